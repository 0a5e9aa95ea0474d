package host

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// ManifestName is the file name of a plugin's manifest inside its folder.
const ManifestName = "plugin.toml"

// Kind is what a plugin does.
type Kind string

// The kinds of plugin.
const (
	// KindCapture turns a platform's raw records into events (needs a platform and emit:events).
	KindCapture Kind = "capture"
	// KindEnrich reads events and emits derived records.
	KindEnrich Kind = "enrich"
	// KindInsight reads derived records and emits insights; it can never read content.
	KindInsight Kind = "insight"
)

// ABIVersion is the batch ABI version this host speaks (package sdk/abi).
const ABIVersion = 1

// Manifest is a plugin's plugin.toml.
type Manifest struct {
	Name        string   `toml:"name"`
	Version     string   `toml:"version"`
	Kind        Kind     `toml:"kind"`
	ABI         int      `toml:"abi"`
	Platform    string   `toml:"platform,omitempty"`
	Description string   `toml:"description,omitempty"`
	Authors     []string `toml:"authors,omitempty"`
	// Wasm is the module's file name in the plugin folder; SHA256 its hex digest.
	Wasm   string `toml:"wasm"`
	SHA256 string `toml:"sha256"`
	// Capabilities are what the plugin asks for; see ParseCapability.
	Capabilities []string `toml:"capabilities"`
	// Emits are the event kinds a capture plugin emits: exact kinds ("session.start") or
	// families ("hook.*": every kind that starts with "hook." and goes on). The host refuses any
	// other kind: kinds become counter keys, which outlive retention.
	Emits  []string `toml:"emits,omitempty"`
	Limits Limits   `toml:"limits"`
	// Messages are an insight plugin's texts, by the code its insights carry (the ident attribute
	// "code"): fixed at install, so a plugin's records hold no text of their own. See Message.
	Messages map[string]Message `toml:"messages,omitempty"`
}

// Message is the human text of one insight code ([messages.<code>] in plugin.toml): a title and a
// one-line suggestion, plain text in which {attr} placeholders name attributes of the insight
// record, filled in when it is shown (ExpandMessage).
type Message struct {
	Title      string `toml:"title"`
	Suggestion string `toml:"suggestion,omitempty"`
}

// Limits of insight messages.
const (
	MaxMessages          = 64
	MaxMessageTitle      = 120
	MaxMessageSuggestion = 300
)

// Limits bound one plugin call. Zero fields take the defaults below.
type Limits struct {
	// MemoryPages bounds the module's linear memory, in 64 KiB pages.
	MemoryPages uint32 `toml:"memory_pages,omitempty"`
	// CallTimeout bounds one call, e.g. "2s".
	CallTimeout Duration `toml:"call_timeout,omitempty"`
	// OutputBytes bounds one call's output.
	OutputBytes int64 `toml:"output_bytes,omitempty"`
}

// Default and maximum limits.
const (
	DefaultMemoryPages = 512  // 32 MiB
	MaxMemoryPages     = 4096 // 256 MiB
	DefaultCallTimeout = 2 * time.Second
	MaxCallTimeout     = 60 * time.Second
	DefaultOutputBytes = 8 << 20 // 8 MiB
	MaxOutputBytes     = 64 << 20
)

// WithDefaults returns the limits with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = Duration(DefaultCallTimeout)
	}
	if l.OutputBytes == 0 {
		l.OutputBytes = DefaultOutputBytes
	}
	return l
}

// Duration is a time.Duration written as a string ("500ms", "2s") in TOML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ErrManifest is wrapped by every manifest decoding and validation error.
var ErrManifest = errors.New("host: bad manifest")

// DecodeManifest decodes a plugin.toml strictly: an unknown key is an error naming it.
func DecodeManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			var keys []string
			for _, e := range strict.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return m, fmt.Errorf("%w: unknown key %s", ErrManifest, strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return m, fmt.Errorf("%w: line %d column %d: %v", ErrManifest, row, col, de)
		}
		return m, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	return m, nil
}

var (
	nameRE     = lazyRegexp(`^[a-z][a-z0-9-]{0,62}[a-z0-9]$`)
	semverRE   = lazyRegexp(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$`)
	sha256RE   = lazyRegexp(`^[0-9a-f]{64}$`)
	wasmRE     = lazyRegexp(`^[A-Za-z0-9._-]+\.wasm$`)
	platformRE = lazyRegexp(`^[a-z][a-z0-9-]{0,62}$`)
	// emitsRE is an event kind, or a family: a prefix of one ending in '.', then '*'.
	emitsRE = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$|^[A-Za-z0-9][A-Za-z0-9._:-]{0,125}\.\*$`)
)

// Validate reports the first problem with the manifest, in words a plugin author can act on.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrManifest, fmt.Sprintf(format, args...))
	}
	switch {
	case !nameRE().MatchString(m.Name):
		return bad("name %q: use 2 to 64 lowercase letters, digits and dashes, starting with a letter", m.Name)
	case !semverRE().MatchString(m.Version):
		return bad("version %q is not semantic (like 1.2.3)", m.Version)
	case m.ABI != ABIVersion:
		return bad("abi %d: this host speaks abi %d", m.ABI, ABIVersion)
	case !wasmRE().MatchString(m.Wasm):
		return bad("wasm %q: name a .wasm file in the plugin folder", m.Wasm)
	case !sha256RE().MatchString(m.SHA256):
		return bad("sha256 %q: want 64 lowercase hex digits (sha256sum %s)", m.SHA256, m.Wasm)
	}
	switch m.Kind {
	case KindCapture:
		if !platformRE().MatchString(m.Platform) {
			return bad("a capture plugin needs a platform, like \"claude-code\"")
		}
	case KindEnrich, KindInsight:
		if m.Platform != "" {
			return bad("platform is only for capture plugins")
		}
	default:
		return bad("kind %q: want capture, enrich or insight", m.Kind)
	}
	seen := map[string]bool{}
	for _, s := range m.Capabilities {
		c, err := ParseCapability(s)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrManifest, err)
		}
		if seen[c.String()] {
			return bad("capability %q listed twice", s)
		}
		seen[c.String()] = true
		if err := c.allowedFor(m.Kind); err != nil {
			return fmt.Errorf("%w: %w", ErrManifest, err)
		}
	}
	if err := checkContentReads(m.Platform, m.Capabilities); err != nil {
		return fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if m.Kind == KindCapture && !seen["emit:events"] {
		return bad("a capture plugin needs the capability \"emit:events\"")
	}
	if err := m.validateEmits(); err != nil {
		return fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if err := m.validateMessages(); err != nil {
		return fmt.Errorf("%w: %w", ErrManifest, err)
	}
	l := m.Limits
	switch {
	case l.MemoryPages > MaxMemoryPages:
		return bad("limits.memory_pages %d: at most %d (256 MiB)", l.MemoryPages, MaxMemoryPages)
	case l.CallTimeout < 0 || time.Duration(l.CallTimeout) > MaxCallTimeout:
		return bad("limits.call_timeout %v: between 0 and %v", time.Duration(l.CallTimeout), MaxCallTimeout)
	case l.OutputBytes < 0 || l.OutputBytes > MaxOutputBytes:
		return bad("limits.output_bytes %d: between 0 and %d", l.OutputBytes, MaxOutputBytes)
	}
	return nil
}

// maxEmits bounds the kinds and families a manifest declares.
const maxEmits = 256

// validateEmits checks emits: required for a capture plugin, absent otherwise (an enrich plugin's
// kinds are its emit:derived:<kind> grants; an insight's output is stored under insight.<name>),
// each entry an exact kind or a family "<prefix>.*", listed once.
func (m *Manifest) validateEmits() error {
	if m.Kind != KindCapture {
		if len(m.Emits) > 0 {
			return fmt.Errorf("emits is only for capture plugins (a %s plugin's kinds are its grants)", m.Kind)
		}
		return nil
	}
	if len(m.Emits) == 0 {
		return errors.New(`a capture plugin declares the event kinds it emits: emits = ["hook.*"] (exact kinds, or families ending in ".*")`)
	}
	if len(m.Emits) > maxEmits {
		return fmt.Errorf("emits lists %d kinds, at most %d", len(m.Emits), maxEmits)
	}
	seen := map[string]bool{}
	for _, e := range m.Emits {
		if !emitsRE().MatchString(e) {
			return fmt.Errorf("emits %q: an event kind (letters, digits, '.', '_', '-', ':', at most 128 bytes) or a family like \"hook.*\"", e)
		}
		if seen[e] {
			return fmt.Errorf("emits %q listed twice", e)
		}
		seen[e] = true
	}
	return nil
}

// messageCodeRE is an insight code: a short identifier, as the ident attribute "code" holds it.
var messageCodeRE = lazyRegexp(`^[a-z][a-z0-9_.-]{0,63}$`)

// validateMessages checks an insight plugin's messages: codes that are short identifiers, a
// title of 1 to MaxMessageTitle bytes and a suggestion of at most MaxMessageSuggestion, each one
// line of printable text whose placeholders are attribute keys ({tool}, {error_rate}).
func (m *Manifest) validateMessages() error {
	if len(m.Messages) == 0 {
		return nil
	}
	if m.Kind != KindInsight {
		return fmt.Errorf("messages are only for insight plugins")
	}
	if len(m.Messages) > MaxMessages {
		return fmt.Errorf("%d messages, at most %d", len(m.Messages), MaxMessages)
	}
	for code, msg := range m.Messages {
		if !messageCodeRE().MatchString(code) {
			return fmt.Errorf("messages.%s: a code is 1 to 64 lowercase letters, digits and . _ -, starting with a letter", code)
		}
		if msg.Title == "" {
			return fmt.Errorf("messages.%s: no title", code)
		}
		for _, f := range []struct {
			name, text string
			max        int
		}{{"title", msg.Title, MaxMessageTitle}, {"suggestion", msg.Suggestion, MaxMessageSuggestion}} {
			if len(f.text) > f.max {
				return fmt.Errorf("messages.%s.%s: %d bytes, at most %d", code, f.name, len(f.text), f.max)
			}
			if err := checkMessageText(f.text); err != nil {
				return fmt.Errorf("messages.%s.%s: %w", code, f.name, err)
			}
		}
	}
	return nil
}

// checkMessageText checks that a message is one line of printable UTF-8 whose braces are all
// placeholders of attribute keys.
func checkMessageText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("one line of plain text: no newlines or control characters")
		}
	}
	_, err := expandMessage(s, nil)
	return err
}

// ExpandMessage fills the {attr} placeholders of an insight message with value(attr); a
// placeholder whose attribute the record lacks (value returns false) is left as it is. The
// manifest's messages were checked at install (Validate); in text that was not, a brace that is
// not a placeholder is kept.
func ExpandMessage(text string, value func(attr string) (string, bool)) string {
	out, err := expandMessage(text, value)
	if err != nil {
		return text
	}
	return out
}

// expandMessage expands text's placeholders with value (nil: only check them), failing on a brace
// that is not a placeholder of an attribute key.
func expandMessage(text string, value func(attr string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexAny(text, "{}")
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		if text[i] == '}' {
			return "", errors.New(`a "}" closes no placeholder (placeholders are {attr}, with attr an attribute key)`)
		}
		b.WriteString(text[:i])
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", errors.New(`a "{" opens no placeholder (placeholders are {attr}, with attr an attribute key)`)
		}
		attr := text[i+1 : i+end]
		if !attrKeyRE().MatchString(attr) {
			return "", fmt.Errorf("placeholder {%s}: an attribute key is lowercase snake_case, at most 64 bytes", attr)
		}
		if value != nil {
			if v, ok := value(attr); ok {
				b.WriteString(v)
			} else {
				b.WriteString(text[i : i+end+1])
			}
		}
		text = text[i+end+1:]
	}
}

// attrKeyRE is an attribute key, as sdk.Event.Validate checks it.
var attrKeyRE = lazyRegexp(`^[a-z][a-z0-9_]{0,63}$`)

// Declares reports whether the manifest declares the event kind (emits): one of its exact kinds,
// or one of its families "<prefix>.*" with at least one byte after the dot.
func (m *Manifest) Declares(kind string) bool {
	for _, e := range m.Emits {
		if prefix, ok := strings.CutSuffix(e, "*"); ok {
			if len(kind) > len(prefix) && strings.HasPrefix(kind, prefix) {
				return true
			}
		} else if kind == e {
			return true
		}
	}
	return false
}

// ID returns name@version.
func (m *Manifest) ID() string { return m.Name + "@" + m.Version }

// CompareVersions compares two semantic versions by major, minor and patch (a pre-release sorts
// before its release). It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	pa, pb := splitVersion(a), splitVersion(b)
	for i := 0; i < 3; i++ {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	ra, rb := strings.Contains(a, "-"), strings.Contains(b, "-")
	switch {
	case ra && !rb:
		return -1
	case !ra && rb:
		return 1
	}
	return strings.Compare(a, b)
}

func splitVersion(v string) [3]int {
	var out [3]int
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	for i, p := range strings.SplitN(core, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

// contentFields are, by platform, the payload fields that hold content: text, code, paths,
// commands and their output. A plugin reaches them only with a content: grant, which install
// shows for what it is and the leak check guards; a read:payload grant of one is refused.
var contentFields = map[string][]string{
	"claude-code": {
		"prompt", "tool_input", "tool_response", "message", "last_assistant_message",
		"custom_instructions", "cwd", "transcript_path", "agent_transcript_path", "permission_suggestions",
	},
}

// contentMetadata are, by platform, the fields inside a content field that hold metadata, not
// content: a read:payload grant may reach them (or fields inside them). Claude Code's transcript
// lines keep the API response's id, model, role and token usage in "message", beside its text
// ("message.content").
var contentMetadata = map[string][]string{
	"claude-code": {"message.id", "message.model", "message.role", "message.usage"},
}

// checkContentReads refuses read:payload grants that reach a content field, or a parent of one,
// unless they reach only metadata inside it (contentMetadata).
func checkContentReads(platform string, caps []string) error {
	for _, s := range caps {
		c, err := ParseCapability(s)
		if err != nil || c.Class != ClassReadField {
			continue
		}
		if isContentMetadata(platform, c.Arg) {
			continue
		}
		for _, f := range contentFields[platform] {
			if c.Arg == f || strings.HasPrefix(c.Arg, f+".") || strings.HasPrefix(f, c.Arg+".") {
				return fmt.Errorf("%w: %q reaches %s content: ask for \"content:%s\" (shown to the user as reading it)", ErrCapability, s, platform, f)
			}
		}
	}
	return nil
}

// isContentMetadata reports whether path is, or is inside, one of the platform's contentMetadata.
func isContentMetadata(platform, path string) bool {
	for _, f := range contentMetadata[platform] {
		if path == f || strings.HasPrefix(path, f+".") {
			return true
		}
	}
	return false
}

// lazyRegexp compiles a pattern on first use: package initialization runs in every process of the
// agent, the hook's included, and most never validate a manifest.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
