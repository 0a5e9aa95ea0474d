package host

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const goodManifest = `
name = "claude-code"
version = "1.2.3"
kind = "capture"
abi = 1
platform = "claude-code"
description = "Claude Code hooks"
authors = ["Hangar"]
wasm = "plugin.wasm"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
capabilities = ["read:payload.tool_name", "content:prompt", "emit:events", "log"]
emits = ["hook.*", "session.start"]

[limits]
memory_pages = 256
call_timeout = "500ms"
output_bytes = 1048576
`

func TestDecodeManifest(t *testing.T) {
	m, err := DecodeManifest([]byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := m.ID(), "claude-code@1.2.3"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := time.Duration(m.Limits.CallTimeout), 500*time.Millisecond; got != want {
		t.Errorf("call_timeout = %v, want %v", got, want)
	}
	if got, want := len(m.Capabilities), 4; got != want {
		t.Errorf("%d capabilities, want %d", got, want)
	}
}

func TestDecodeManifestStrict(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"unknown top-level key", goodManifest + "\nnetwork = true\n", "network"},
		{"typo in limits", strings.Replace(goodManifest, "memory_pages", "memory_page", 1), "limits.memory_page"},
		{"bad toml", "name = ", "line 1"},
		{"bad duration", strings.Replace(goodManifest, `"500ms"`, `"soon"`, 1), "soon"},
		{"wrong type", strings.Replace(goodManifest, `abi = 1`, `abi = "one"`, 1), "line 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest([]byte(tc.toml))
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeManifest = %v, want ErrManifest mentioning %q", err, tc.want)
			}
		})
	}
}

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Manifest)
		want   string // "" for valid
	}{
		{"valid", func(*Manifest) {}, ""},
		{"enrich without platform", func(m *Manifest) {
			m.Kind, m.Platform, m.Emits = KindEnrich, "", nil
			m.Capabilities = []string{"read:events", "emit:derived:tool-stats"}
		}, ""},
		{"upper-case name", func(m *Manifest) { m.Name = "Claude" }, "name"},
		{"one-letter name", func(m *Manifest) { m.Name = "c" }, "name"},
		{"version not semver", func(m *Manifest) { m.Version = "1.2" }, "version"},
		{"pre-release version", func(m *Manifest) { m.Version = "1.2.3-beta.1" }, ""},
		{"abi 2", func(m *Manifest) { m.ABI = 2 }, "abi 2"},
		{"unknown kind", func(m *Manifest) { m.Kind = "exporter" }, "kind"},
		{"capture without platform", func(m *Manifest) { m.Platform = "" }, "platform"},
		{"enrich with platform", func(m *Manifest) {
			m.Kind, m.Emits = KindEnrich, nil
			m.Capabilities = []string{"read:events"}
		}, "platform"},
		{"wasm path escapes", func(m *Manifest) { m.Wasm = "../evil.wasm" }, "wasm"},
		{"sha256 upper case", func(m *Manifest) { m.SHA256 = strings.ToUpper(m.SHA256) }, "sha256"},
		{"sha256 short", func(m *Manifest) { m.SHA256 = "abc" }, "sha256"},
		{"net capability", func(m *Manifest) { m.Capabilities = append(m.Capabilities, "net:api.example.com") }, "no network"},
		{"unknown capability", func(m *Manifest) { m.Capabilities = append(m.Capabilities, "root") }, "unknown capability"},
		{"duplicate capability", func(m *Manifest) { m.Capabilities = append(m.Capabilities, "log") }, "twice"},
		{"capture without emit", func(m *Manifest) { m.Capabilities = []string{"log"} }, "emit:events"},
		{"insight with content", func(m *Manifest) {
			m.Kind, m.Platform, m.Emits = KindInsight, "", nil
			m.Capabilities = []string{"read:derived:x", "content:prompt"}
		}, "not for insight"},
		{"enrich emitting events", func(m *Manifest) {
			m.Kind, m.Platform, m.Emits = KindEnrich, "", nil
			m.Capabilities = []string{"emit:events"}
		}, "not for enrich"},
		{"field read of content", func(m *Manifest) { m.Capabilities = append(m.Capabilities, "read:payload.prompt") }, "content:prompt"},
		{"field read inside content", func(m *Manifest) {
			m.Capabilities = append(m.Capabilities, "read:payload.tool_input.command")
		}, "content:tool_input"},
		{"field read of a safe field", func(m *Manifest) { m.Capabilities = append(m.Capabilities, "read:payload.tool_use_id") }, ""},
		{"field read of metadata inside content", func(m *Manifest) {
			m.Capabilities = append(m.Capabilities, "read:payload.message.model", "read:payload.message.usage.input_tokens")
		}, ""},
		{"field read of content beside metadata", func(m *Manifest) {
			m.Capabilities = append(m.Capabilities, "read:payload.message.content")
		}, "content:message"},
		{"field read of a parent of metadata", func(m *Manifest) {
			m.Capabilities = append(m.Capabilities, "read:payload.message")
		}, "content:message"},
		{"capture without emits", func(m *Manifest) { m.Emits = nil }, "declares the event kinds it emits"},
		{"emits exact kinds and families", func(m *Manifest) { m.Emits = []string{"hook.*", "transcript.*", "usage", "a:b-c_d.e"} }, ""},
		{"emits everything", func(m *Manifest) { m.Emits = []string{"*"} }, `emits "*"`},
		{"emits a bare prefix", func(m *Manifest) { m.Emits = []string{"hook*"} }, `emits "hook*"`},
		{"emits a star inside", func(m *Manifest) { m.Emits = []string{"hook.*.pre"} }, "emits"},
		{"emits a space", func(m *Manifest) { m.Emits = []string{"hook pre"} }, "emits"},
		{"emits an empty kind", func(m *Manifest) { m.Emits = []string{""} }, "emits"},
		{"emits too long", func(m *Manifest) { m.Emits = []string{strings.Repeat("k", 129)} }, "emits"},
		{"emits twice", func(m *Manifest) { m.Emits = []string{"hook.*", "hook.*"} }, "twice"},
		{"emits too many", func(m *Manifest) {
			m.Emits = nil
			for i := range maxEmits + 1 {
				m.Emits = append(m.Emits, fmt.Sprintf("k%d", i))
			}
		}, "at most"},
		{"enrich with emits", func(m *Manifest) {
			m.Kind, m.Platform = KindEnrich, ""
			m.Capabilities = []string{"read:events", "emit:derived:tool-stats"}
		}, "emits is only for capture plugins"},
		{"memory too large", func(m *Manifest) { m.Limits.MemoryPages = MaxMemoryPages + 1 }, "memory_pages"},
		{"timeout too long", func(m *Manifest) { m.Limits.CallTimeout = Duration(2 * MaxCallTimeout) }, "call_timeout"},
		{"negative output", func(m *Manifest) { m.Limits.OutputBytes = -1 }, "output_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeManifest([]byte(goodManifest))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(&m)
			err = m.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want ErrManifest mentioning %q", err, tc.want)
			}
		})
	}
}

func TestManifestDeclares(t *testing.T) {
	m := Manifest{Emits: []string{"hook.*", "session.start", "x.y.*"}}
	tests := []struct {
		kind string
		want bool
	}{
		{"hook.PreToolUse", true},
		{"hook.x", true},
		{"hook.", false},
		{"hook", false},
		{"hooks.x", false},
		{"session.start", true},
		{"session.started", false},
		{"session", false},
		{"x.y.z", true},
		{"x.yz", false},
		{"transcript.user", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := m.Declares(tc.kind); got != tc.want {
			t.Errorf("Declares(%q) = %v, want %v", tc.kind, got, tc.want)
		}
	}
	if (&Manifest{}).Declares("hook.Stop") {
		t.Error("a manifest without emits declares hook.Stop")
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	got := Limits{MemoryPages: 10}.WithDefaults()
	want := Limits{MemoryPages: 10, CallTimeout: Duration(DefaultCallTimeout), OutputBytes: DefaultOutputBytes}
	if got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1.0.0", "1.0.1", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "10.0.0", -1},
		{"1.0.0-beta", "1.0.0", -1},
		{"1.0.0", "1.0.0-rc.1", 1},
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
