//go:build wasip1

// Command trap is an adversarial plugin. For a record with "mode": "trap" it panics in a
// goroutine, which no recover can catch, so the module traps; for "panic" it panics in the handler,
// which the SDK turns into that record's error.
package main

import (
	"runtime"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(rec pdk.Record) ([]sdk.Event, error) {
		switch rec.Get("mode").String() {
		case "trap":
			done := make(chan struct{})
			go func() {
				defer close(done)
				var f func()
				f() // nil func call in a goroutine: fatal
			}()
			runtime.Gosched()
			<-done
		case "panic":
			panic("handler panic")
		}
		return []sdk.Event{{Kind: "trap.ok"}}, nil
	})
}

func main() {}
