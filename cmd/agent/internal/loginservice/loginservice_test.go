package loginservice

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"
)

// TestFor checks the systemd unit and the launchd agent, with paths that need quoting.
func TestFor(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	bin, dataDir := "/opt/my tools/agent", "/data/100%/$x"
	svc, err := For("linux", env("HOME", "/home/jane"), bin, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Path != "/home/jane/.config/systemd/user/hangar-agent.service" {
		t.Errorf("unit path %s", svc.Path)
	}
	for _, want := range []string{"\nExecStart=\"/opt/my tools/agent\" run --data-dir /data/100%%/$$x\n", "\nRestart=on-failure\n", "\nWantedBy=default.target\n"} {
		if !strings.Contains(string(svc.Content), want) {
			t.Errorf("unit lacks %q:\n%s", want, svc.Content)
		}
	}
	if !strings.Contains(svc.Enable, "systemctl --user enable --now hangar-agent") {
		t.Errorf("enable command %q", svc.Enable)
	}
	svc, _ = For("linux", env("HOME", "/home/jane", "XDG_CONFIG_HOME", "/cfg"), "/bin/agent", "")
	if svc.Path != "/cfg/systemd/user/hangar-agent.service" || !strings.Contains(string(svc.Content), "\nExecStart=/bin/agent run\n") {
		t.Errorf("with XDG_CONFIG_HOME: %s\n%s", svc.Path, svc.Content)
	}

	svc, err = For("darwin", env("HOME", "/Users/jane"), "/Users/jane/R&D/agent", "")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Path != "/Users/jane/Library/LaunchAgents/dev.hangar.agent.plist" {
		t.Errorf("plist path %s", svc.Path)
	}
	var plist struct {
		Dict struct {
			Keys    []string `xml:"key"`
			Strings []string `xml:"string"`
			Array   struct {
				Strings []string `xml:"string"`
			} `xml:"array"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(svc.Content, &plist); err != nil {
		t.Fatalf("plist: %v\n%s", err, svc.Content)
	}
	if got := plist.Dict.Array.Strings; !slices.Equal(got, []string{"/Users/jane/R&D/agent", "run"}) {
		t.Errorf("ProgramArguments %q", got)
	}
	if !slices.Contains(plist.Dict.Keys, "RunAtLoad") || !slices.Contains(plist.Dict.Strings, "dev.hangar.agent") {
		t.Errorf("plist lacks RunAtLoad or the label:\n%s", svc.Content)
	}
	if _, err := For("windows", env("HOME", "/x"), "agent.exe", ""); err == nil || !strings.Contains(err.Error(), "not supported on windows") {
		t.Errorf("windows: %v, want not supported", err)
	}
}
