package abi

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

func TestInputRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		records [][]byte
	}{
		{"none", nil},
		{"one", [][]byte{[]byte(`{"a":1}`)}},
		{"empty record", [][]byte{{}}},
		{"several", [][]byte{[]byte(`{}`), []byte(`{"tool_name":"Bash"}`), bytes.Repeat([]byte("x"), 300)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := AppendInput(nil, tc.records)
			var got [][]byte
			n, err := DecodeInput(in, func(i int, rec []byte) error {
				if i != len(got) {
					t.Errorf("record index %d, want %d", i, len(got))
				}
				got = append(got, rec)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.records) || len(got) != len(tc.records) {
				t.Fatalf("decoded %d (%d), want %d", n, len(got), len(tc.records))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.records[i]) {
					t.Errorf("record %d = %q, want %q", i, got[i], tc.records[i])
				}
			}
		})
	}
}

func TestOutputRoundTrip(t *testing.T) {
	ev := sdk.Event{Kind: "hook.PreToolUse", SessionID: "s1", Time: time.Unix(1700000000, 5).UTC(),
		Attrs: []sdk.Attr{sdk.Ident("tool_name", "Bash"), sdk.Int("bytes", 42), sdk.Bool("ok", true)}}
	results := []Result{
		{Events: []sdk.Event{ev, {Kind: "k2"}}},
		{Err: "bad record"},
		{}, // ok, no events
	}
	out, err := AppendOutput(nil, results)
	if err != nil {
		t.Fatal(err)
	}
	var got []Result
	if err := DecodeOutput(out, len(results), func(i int, evs []sdk.Event, msg string) error {
		got = append(got, Result{Events: evs, Err: msg})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, results) {
		t.Fatalf("got %+v\nwant %+v", got, results)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := AppendOutput(nil, []Result{{Events: []sdk.Event{{Kind: "k"}}}, {Err: "no"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		out  []byte
		want int
	}{
		{"empty", nil, 0},
		{"wrong version", append([]byte{2}, good[1:]...), 2},
		{"count differs", good, 3},
		{"trailing byte", append(append([]byte{}, good...), 0), 2},
		{"unknown status", []byte{1, 1, 7}, 1},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, 1},
		{"corrupt event", []byte{1, 1, 0, 1, 3, 9, 9, 9}, 1},
	}
	for n := 1; n < len(good); n++ {
		tests = append(tests, struct {
			name string
			out  []byte
			want int
		}{"truncated", good[:n], 2})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := DecodeOutput(tc.out, tc.want, func(int, []sdk.Event, string) error { return nil })
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeOutput(%x) = %v, want ErrMalformed", tc.out, err)
			}
		})
	}
	if _, err := DecodeInput([]byte{1, 2, 1, 'x'}, func(int, []byte) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DecodeInput of a short input = %v, want ErrMalformed", err)
	}
}

func FuzzDecodeOutput(f *testing.F) {
	good, _ := AppendOutput(nil, []Result{{Events: []sdk.Event{{Kind: "k", Attrs: []sdk.Attr{sdk.Int("n", 1)}}}}, {Err: "x"}})
	f.Add(good, 2)
	f.Add([]byte{1, 0}, 0)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		var got []Result
		err := DecodeOutput(b, want, func(i int, evs []sdk.Event, msg string) error {
			got = append(got, Result{Events: evs, Err: msg})
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(got) != want {
			t.Fatalf("%d results, want %d", len(got), want)
		}
	})
}
