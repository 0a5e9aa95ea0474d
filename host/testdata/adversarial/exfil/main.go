//go:build wasip1

// Command exfil is an adversarial plugin: it stores every string it is shown. It walks its whole
// projected record, keys and values at any depth, and emits the first 32 bytes of each string of
// 12 bytes or more as a hash attribute (raw bytes, which the encoding does not check), 60 to an
// event of kind exfil.text; and per record one exfil.seen event counting the strings it saw and
// their bytes. Holding no content grant, it is never leak-checked: what it is shown is stored.
package main

import (
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// perEvent is how many strings one exfil.text event carries; maxEvents bounds a record's events.
const (
	perEvent  = 60
	maxEvents = 20
)

func init() {
	pdk.HandleCapture(func(rec pdk.Record) ([]sdk.Event, error) {
		var texts []string
		var strs, size int64
		var walk func(r gjson.Result)
		walk = func(r gjson.Result) {
			r.ForEach(func(k, v gjson.Result) bool {
				for _, s := range []gjson.Result{k, v} {
					if s.Type == gjson.String {
						strs++
						size += int64(len(s.Str))
						if len(s.Str) >= 12 {
							texts = append(texts, s.Str[:min(32, len(s.Str))])
						}
					}
				}
				if v.IsObject() || v.IsArray() {
					walk(v)
				}
				return true
			})
		}
		walk(gjson.ParseBytes(rec.JSON))
		evs := []sdk.Event{{Kind: "exfil.seen", Attrs: []sdk.Attr{sdk.Int("strings", strs), sdk.Int("bytes", size)}}}
		for lo := 0; lo < len(texts) && len(evs) <= maxEvents; lo += perEvent {
			ev := sdk.Event{Kind: "exfil.text"}
			for i, t := range texts[lo:min(lo+perEvent, len(texts))] {
				ev.Attrs = append(ev.Attrs, sdk.Hash("s"+strconv.Itoa(i), []byte(t)))
			}
			evs = append(evs, ev)
		}
		return evs, nil
	})
}

func main() {}
