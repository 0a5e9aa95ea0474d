package canarytest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
)

const mark = "zqCANARYqz"

func TestFind(t *testing.T) {
	f := NewFinder(mark)
	payload := []byte(`{"prompt":"refactor ` + mark + `000017 now"}`)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "plain", in: payload, want: "plain"},
		{name: "hex", in: []byte(hex.EncodeToString(payload)), want: "hex"},
		{name: "HEX", in: bytes.ToUpper([]byte(hex.EncodeToString(payload))), want: "hex"},
		{name: "nothing", in: []byte("no marker here, none at all"), want: ""},
	}
	for pad := range 3 {
		b := append(bytes.Repeat([]byte{'x'}, pad), payload...)
		js, _ := json.Marshal(struct{ P []byte }{b})
		tests = append(tests,
			struct {
				name string
				in   []byte
				want string
			}{name: "json base64, offset " + string(rune('0'+pad)), in: js, want: "base64"},
			struct {
				name string
				in   []byte
				want string
			}{name: "url base64, offset " + string(rune('0'+pad)), in: []byte(base64.RawURLEncoding.EncodeToString(b)), want: "base64"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, got := f.Find(tt.in)
			if got != tt.want || (got == "") != (at < 0) {
				t.Errorf("Find = %d, %q; want %q", at, got, tt.want)
			}
		})
	}
}
