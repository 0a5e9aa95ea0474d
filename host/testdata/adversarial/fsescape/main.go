//go:build wasip1

// Command fsescape is an adversarial plugin: it tries to read /etc/passwd and emit it.
package main

import (
	"os"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		b, err := os.ReadFile("/etc/passwd")
		if err != nil {
			return nil, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return []sdk.Event{{Kind: "fs.leak", Attrs: []sdk.Attr{sdk.Ident("line", strings.ReplaceAll(line, " ", "_"))}}}, nil
	})
}

func main() {}
