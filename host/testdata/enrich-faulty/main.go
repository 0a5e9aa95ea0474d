//go:build wasip1

// Command enrich-faulty is a test enrich plugin that fails on purpose, by session: an event of a
// session whose id starts with "fail-" is failed (the record's error), one of a session starting
// with "trap-" makes the module trap (a nil call in a goroutine, which no recover catches); of any
// other session it emits a derived "faulty.seen" record.
package main

import (
	"errors"
	"runtime"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleEnrich(func(rec pdk.Record) ([]sdk.Event, error) {
		session := rec.Get("session_id").String()
		switch {
		case strings.HasPrefix(session, "fail-"):
			return nil, errors.New("failed on purpose")
		case strings.HasPrefix(session, "trap-"):
			done := make(chan struct{})
			go func() {
				defer close(done)
				var f func()
				f()
			}()
			runtime.Gosched()
			<-done
		}
		if session == "" {
			return nil, nil
		}
		return []sdk.Event{{Kind: "faulty.seen", SessionID: session}}, nil
	})
}

func main() {}
