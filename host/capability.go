package host

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hangar-dev/hangar/sdk/abi"
)

// Class is the kind of a capability.
type Class string

// The classes of capability. Everything not granted is denied.
const (
	// ClassReadField ("read:payload.<path>") projects the field at a gjson path of each input record
	// into what the plugin receives, with only its values that are metadata by type (numbers,
	// flags, identifiers: sdk/abi); every other value, at any depth, is withheld (project.go).
	ClassReadField Class = "read-field"
	// ClassContent ("content:<path>") shows the plugin text (a prompt, tool input) in memory, to
	// derive safe features from; the host refuses any emission that carries it.
	ClassContent Class = "content"
	// ClassReadEvents ("read:events") gives an enrich plugin the stored events.
	ClassReadEvents Class = "read-events"
	// ClassReadDerived ("read:derived:<kind>") gives an insight plugin derived records of a kind.
	ClassReadDerived Class = "read-derived"
	// ClassEmitEvents ("emit:events") lets a capture plugin emit events.
	ClassEmitEvents Class = "emit-events"
	// ClassEmitDerived ("emit:derived:<kind>") lets an enrich plugin emit derived records of a kind.
	ClassEmitDerived Class = "emit-derived"
	// ClassKV ("kv") gives the plugin a keyspace of its own in the store.
	ClassKV Class = "kv"
	// ClassLog ("log") lets the plugin write to the agent's log.
	ClassLog Class = "log"
	// ClassClock ("clock") gives the plugin the real time (otherwise its clock is fixed).
	ClassClock Class = "clock"
	// ClassFSRead ("fs:read:<glob>") lets the plugin read files matching an absolute glob through a
	// host function.
	ClassFSRead Class = "fs-read"
)

// Capability is one parsed capability string.
type Capability struct {
	Class Class
	// Arg is the path, kind or glob the capability names, if any.
	Arg string
}

// ErrCapability is wrapped by every capability error.
var ErrCapability = errors.New("host: capability refused")

var (
	// fieldPathRE allows plain gjson paths: names separated by dots, without gjson's wildcards,
	// queries or modifiers, so that a grant names exactly the data it reaches.
	fieldPathRE = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)
	derivedRE   = lazyRegexp(`^[a-z][a-z0-9_.-]{0,62}$`)
)

// ParseCapability parses a capability string. Network capabilities ("net:...") and anything
// unknown are refused: plugins get no network, ever.
func ParseCapability(s string) (Capability, error) {
	refuse := func(format string, args ...any) (Capability, error) {
		return Capability{}, fmt.Errorf("%w: %q: %s", ErrCapability, s, fmt.Sprintf(format, args...))
	}
	switch {
	case s == "read:events":
		return Capability{Class: ClassReadEvents}, nil
	case s == "emit:events":
		return Capability{Class: ClassEmitEvents}, nil
	case s == "kv":
		return Capability{Class: ClassKV}, nil
	case s == "log":
		return Capability{Class: ClassLog}, nil
	case s == "clock":
		return Capability{Class: ClassClock}, nil
	case strings.HasPrefix(s, "net:") || s == "net" || strings.HasPrefix(s, "http"):
		return refuse("plugins get no network access")
	}
	if p, ok := strings.CutPrefix(s, "read:payload."); ok {
		if !fieldPathRE().MatchString(p) {
			return refuse("a field path is names separated by dots, like tool_input.file_path")
		}
		return Capability{Class: ClassReadField, Arg: p}, nil
	}
	if p, ok := strings.CutPrefix(s, "content:"); ok {
		if !fieldPathRE().MatchString(p) {
			return refuse("a content path is names separated by dots, like prompt or tool_input")
		}
		return Capability{Class: ClassContent, Arg: p}, nil
	}
	if k, ok := strings.CutPrefix(s, "read:derived:"); ok {
		if !derivedRE().MatchString(k) {
			return refuse("a derived kind is lowercase letters, digits, dots, dashes and underscores")
		}
		return Capability{Class: ClassReadDerived, Arg: k}, nil
	}
	if k, ok := strings.CutPrefix(s, "emit:derived:"); ok {
		if !derivedRE().MatchString(k) {
			return refuse("a derived kind is lowercase letters, digits, dots, dashes and underscores")
		}
		return Capability{Class: ClassEmitDerived, Arg: k}, nil
	}
	if g, ok := strings.CutPrefix(s, "fs:read:"); ok {
		if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "~/") {
			return refuse("a file glob must be absolute (or start with ~/)")
		}
		if _, err := path.Match(g, ""); err != nil {
			return refuse("bad glob: %v", err)
		}
		return Capability{Class: ClassFSRead, Arg: g}, nil
	}
	return refuse("unknown capability")
}

// String returns the capability in manifest form.
func (c Capability) String() string {
	switch c.Class {
	case ClassReadField:
		return "read:payload." + c.Arg
	case ClassContent:
		return "content:" + c.Arg
	case ClassReadEvents:
		return "read:events"
	case ClassReadDerived:
		return "read:derived:" + c.Arg
	case ClassEmitEvents:
		return "emit:events"
	case ClassEmitDerived:
		return "emit:derived:" + c.Arg
	case ClassKV:
		return "kv"
	case ClassLog:
		return "log"
	case ClassClock:
		return "clock"
	case ClassFSRead:
		return "fs:read:" + c.Arg
	}
	return string(c.Class)
}

// Sensitive reports whether the capability reaches private data: content or files. Install shows
// such grants prominently.
func (c Capability) Sensitive() bool { return c.Class == ClassContent || c.Class == ClassFSRead }

// Describe says in plain words what granting the capability allows.
func (c Capability) Describe() string {
	switch c.Class {
	case ClassReadField:
		return fmt.Sprintf("read the field %q of each record, metadata only: numbers, true/false and short identifiers "+
			"(names, ids, timestamps: at most %d letters, digits or . _ - : +); anything else in it is withheld", c.Arg, abi.MaxIdentifier)
	case ClassContent:
		return fmt.Sprintf("READ YOUR %s (in memory, to derive features; the host refuses any emission that copies it)", strings.ToUpper(c.Arg))
	case ClassReadEvents:
		return "read stored events (metadata only)"
	case ClassReadDerived:
		return fmt.Sprintf("read derived records of kind %q", c.Arg)
	case ClassEmitEvents:
		return "store events"
	case ClassEmitDerived:
		return fmt.Sprintf("store derived records of kind %q", c.Arg)
	case ClassKV:
		return "keep its own data in Hangar's store"
	case ClassLog:
		return "write to the agent's log"
	case ClassClock:
		return "read the current time"
	case ClassFSRead:
		return fmt.Sprintf("READ FILES matching %s", c.Arg)
	}
	return string(c.Class)
}

// allowedFor refuses capabilities a kind of plugin may not hold.
func (c Capability) allowedFor(k Kind) error {
	only := func(kinds ...Kind) error {
		for _, ok := range kinds {
			if k == ok {
				return nil
			}
		}
		return fmt.Errorf("%w: %q is not for %s plugins", ErrCapability, c.String(), k)
	}
	switch c.Class {
	case ClassReadField, ClassEmitEvents, ClassFSRead:
		return only(KindCapture)
	case ClassContent:
		return only(KindCapture, KindEnrich) // an insight plugin can never hold content
	case ClassReadEvents, ClassEmitDerived:
		return only(KindEnrich)
	case ClassReadDerived:
		return only(KindInsight)
	}
	return nil
}

// Grants is the set of capabilities a user granted a plugin. The zero value grants nothing.
type Grants struct {
	caps []Capability
}

// NewGrants parses granted capability strings.
func NewGrants(caps []string) (Grants, error) {
	var g Grants
	for _, s := range caps {
		c, err := ParseCapability(s)
		if err != nil {
			return Grants{}, err
		}
		g.caps = append(g.caps, c)
	}
	return g, nil
}

// Has reports whether a capability of the class (and, if arg is not empty, that argument) is granted.
func (g Grants) Has(class Class, arg string) bool {
	for _, c := range g.caps {
		if c.Class == class && (arg == "" || c.Arg == arg) {
			return true
		}
	}
	return false
}

// Of returns the granted capabilities of a class.
func (g Grants) Of(class Class) []Capability {
	var out []Capability
	for _, c := range g.caps {
		if c.Class == class {
			out = append(out, c)
		}
	}
	return out
}

// Strings returns the grants in manifest form.
func (g Grants) Strings() []string {
	out := make([]string, len(g.caps))
	for i, c := range g.caps {
		out[i] = c.String()
	}
	return out
}
