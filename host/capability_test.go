package host

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCapability(t *testing.T) {
	tests := []struct {
		in        string
		want      Capability
		sensitive bool
		err       string
	}{
		{in: "read:payload.tool_name", want: Capability{ClassReadField, "tool_name"}},
		{in: "read:payload.tool_input.file_path", want: Capability{ClassReadField, "tool_input.file_path"}},
		{in: "content:prompt", want: Capability{ClassContent, "prompt"}, sensitive: true},
		{in: "read:events", want: Capability{Class: ClassReadEvents}},
		{in: "read:derived:tool-stats", want: Capability{ClassReadDerived, "tool-stats"}},
		{in: "emit:events", want: Capability{Class: ClassEmitEvents}},
		{in: "emit:derived:sessions", want: Capability{ClassEmitDerived, "sessions"}},
		{in: "kv", want: Capability{Class: ClassKV}},
		{in: "log", want: Capability{Class: ClassLog}},
		{in: "clock", want: Capability{Class: ClassClock}},
		{in: "fs:read:~/.cursor/*.db", want: Capability{ClassFSRead, "~/.cursor/*.db"}, sensitive: true},
		{in: "net:api.example.com", err: "no network"},
		{in: "net", err: "no network"},
		{in: "http://x", err: "no network"},
		{in: "read:payload.*", err: "field path"},
		{in: "read:payload.tool_input|@reverse", err: "field path"},
		{in: "read:payload.a..b", err: "field path"},
		{in: "content:", err: "content path"},
		{in: "read:derived:Tool Stats", err: "derived kind"},
		{in: "fs:read:relative/*.db", err: "absolute"},
		{in: "fs:read:/x/[", err: "bad glob"},
		{in: "kv:other-plugin", err: "unknown"},
		{in: "", err: "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCapability(tc.in)
			if tc.err != "" {
				if !errors.Is(err, ErrCapability) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseCapability(%q) = %v, want ErrCapability mentioning %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ParseCapability(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
			if got.Sensitive() != tc.sensitive {
				t.Errorf("Sensitive() = %v, want %v", got.Sensitive(), tc.sensitive)
			}
			if d := got.Describe(); d == "" || d == string(got.Class) {
				t.Errorf("Describe() = %q, want words", d)
			}
		})
	}
}

func TestContentIsSaidPlainly(t *testing.T) {
	c, err := ParseCapability("content:prompt")
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Describe(); !strings.Contains(d, "READ YOUR PROMPT") {
		t.Fatalf("Describe() = %q, want it to say the plugin can read your prompts", d)
	}
}

func TestGrants(t *testing.T) {
	g, err := NewGrants([]string{"read:payload.tool_name", "content:prompt", "log"})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Has(ClassContent, "prompt") || g.Has(ClassContent, "tool_input") || !g.Has(ClassLog, "") || g.Has(ClassKV, "") {
		t.Fatalf("Has answers wrong for %v", g.Strings())
	}
	if got, want := g.Of(ClassReadField), []Capability{{ClassReadField, "tool_name"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Of = %+v, want %+v", got, want)
	}
	if _, err := NewGrants([]string{"net:x"}); !errors.Is(err, ErrCapability) {
		t.Fatalf("NewGrants(net) = %v, want ErrCapability", err)
	}
	var none Grants
	if none.Has(ClassLog, "") {
		t.Fatal("the zero Grants grants something")
	}
}
