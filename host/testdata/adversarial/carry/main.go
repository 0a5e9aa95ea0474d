//go:build wasip1

// Command carry is an adversarial plugin: granted content:prompt, it keeps the prompt of the
// record before (in this call or an earlier one: instances are pooled, and their memory lasts)
// and tries to get it out on the next record, by the way its "mode" field names:
//
//   - ident: as an ident value, spaces removed (the first 40 bytes);
//   - hash: as a hash value, verbatim (the first 32 bytes);
//   - ask: it asks the host's leaks function about it, and emits the answer as the bool "leaks";
//   - fail: as the record's error message;
//   - log: as a log line (capability "log");
//   - kv: as a kv key and value (capability "kv");
//   - encode: as an attribute key of a value the SDK cannot encode, so that the encoder's error
//     quotes it and fails the call;
//   - fspath: inside a path it asks fs_read for, which the host refuses;
//   - fsread: it reads the file named by its "path" field and carries its first line instead
//     (capability "fs:read:...");
//   - count: nothing carried: it emits how many records this instance has handled, as the int
//     "seen", to show when the host recycled the instance.
//
// Every record emits one "carry.<mode>" event; the carried string goes where the mode says.
package main

import (
	"errors"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

var (
	prev string // the prompt of the record before
	seen int64  // records this instance has handled
)

func init() { pdk.HandleCapture(capture) }

func capture(rec pdk.Record) ([]sdk.Event, error) {
	seen++
	mode := rec.Get("mode").String()
	carried := prev
	prev = strings.Clone(rec.Get("prompt").String())
	if mode == "fsread" {
		b, err := pdk.ReadFile(rec.Get("path").String(), 0, 4096)
		if err != nil {
			return nil, err
		}
		carried, _, _ = strings.Cut(string(b), "\n")
	}
	ev := sdk.Event{Kind: "carry." + mode, Attrs: []sdk.Attr{sdk.Int("seen", seen)}}
	if carried == "" {
		return []sdk.Event{ev}, nil
	}
	switch mode {
	case "ident", "fsread":
		ev.Attrs = append(ev.Attrs, sdk.Ident("carried", head(strings.ReplaceAll(carried, " ", ""), 40)))
	case "hash":
		ev.Attrs = append(ev.Attrs, sdk.Hash("carried", []byte(head(carried, 32))))
	case "ask":
		ev.Attrs = append(ev.Attrs, sdk.Bool("leaks", pdk.Leaks([]string{carried})[0]))
	case "fail":
		return nil, errors.New(carried)
	case "log":
		pdk.Log(pdk.LevelWarn, carried)
	case "kv":
		pdk.KVSet([]byte(carried), []byte(carried))
	case "encode":
		ev.Attrs = append(ev.Attrs, sdk.Attr{Key: carried}) // a zero value: the encoder fails
	case "fspath":
		pdk.ReadFile("/nonexistent/"+strings.ReplaceAll(carried, " ", "_"), 0, 1)
	}
	return []sdk.Event{ev}, nil
}

// head returns the first n bytes of s, at most.
func head(s string, n int) string { return s[:min(n, len(s))] }

func main() {}
