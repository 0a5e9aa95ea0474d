package childtest

import (
	"os"
	"testing"
	"time"
)

// TestRun: the parent runs the body in a child, with the environment given, and returns true;
// the child returns false and runs the body.
func TestRun(t *testing.T) {
	if Run(t, time.Minute, "HANGAR_CHILDTEST_MARK=1") {
		if os.Getenv("HANGAR_CHILDTEST_MARK") != "" {
			t.Fatal("the parent has the child's environment")
		}
		return
	}
	if !inChild(t) || os.Getenv("HANGAR_CHILDTEST_MARK") != "1" {
		t.Fatal("the body ran outside a child, or without its environment")
	}
}
