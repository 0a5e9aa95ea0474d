package usage

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ccusage 20.0.24 is written in Rust and prints reports with serde_json's to_writer_pretty over
// a serde_json::Value: object keys sorted bytewise, two-space indent, `[]` and `{}` for empty
// containers, floats in Ryu's shortest form with Rust's layout (1.0, 0.00001, 1e-6, 1e+16),
// non-finite floats as null, and a newline at the end. The writer below reproduces that, so that
// a report's WriteJSON output is byte-for-byte ccusage's stdout.

// node is a JSON value in ccusage's output.
type node interface{ write(w *jsonWriter) }

type (
	jsonObject []member
	member     struct {
		key string
		val node
	}
	jsonArray  []node
	jsonString string
	jsonInt    int64
	jsonUint   uint64
	jsonFloat  float64 // serde_json's f64 form
	jsonBool   bool
	jsonNull   struct{}
)

type jsonWriter struct {
	buf   []byte
	depth int
}

func (w *jsonWriter) newline() {
	w.buf = append(w.buf, '\n')
	for range w.depth {
		w.buf = append(w.buf, ' ', ' ')
	}
}

func (o jsonObject) write(w *jsonWriter) {
	if len(o) == 0 {
		w.buf = append(w.buf, '{', '}')
		return
	}
	sorted := slices.Clone(o)
	slices.SortStableFunc(sorted, func(a, b member) int { return strings.Compare(a.key, b.key) })
	w.buf = append(w.buf, '{')
	w.depth++
	for i, m := range sorted {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.newline()
		w.buf = appendJSONString(w.buf, m.key)
		w.buf = append(w.buf, ':', ' ')
		m.val.write(w)
	}
	w.depth--
	w.newline()
	w.buf = append(w.buf, '}')
}

func (a jsonArray) write(w *jsonWriter) {
	if len(a) == 0 {
		w.buf = append(w.buf, '[', ']')
		return
	}
	w.buf = append(w.buf, '[')
	w.depth++
	for i, v := range a {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.newline()
		v.write(w)
	}
	w.depth--
	w.newline()
	w.buf = append(w.buf, ']')
}

func (s jsonString) write(w *jsonWriter) { w.buf = appendJSONString(w.buf, string(s)) }
func (n jsonInt) write(w *jsonWriter)    { w.buf = strconv.AppendInt(w.buf, int64(n), 10) }
func (n jsonUint) write(w *jsonWriter)   { w.buf = strconv.AppendUint(w.buf, uint64(n), 10) }
func (f jsonFloat) write(w *jsonWriter)  { w.buf = appendRustFloat(w.buf, float64(f)) }
func (b jsonBool) write(w *jsonWriter)   { w.buf = strconv.AppendBool(w.buf, bool(b)) }
func (jsonNull) write(w *jsonWriter)     { w.buf = append(w.buf, "null"...) }

// render returns v as ccusage prints it, with the final newline.
func render(v node) []byte {
	w := jsonWriter{}
	v.write(&w)
	return append(w.buf, '\n')
}

// writeNode writes v as ccusage prints it.
func writeNode(out io.Writer, v node) error {
	_, err := out.Write(render(v))
	return err
}

// marshalNode returns v as ccusage prints it, without the final newline, for MarshalJSON.
func marshalNode(v node) []byte {
	b := render(v)
	return b[:len(b)-1]
}

// appendJSONString quotes s as serde_json does: `"` and `\` escaped, \b \f \n \r \t by name,
// other control characters as \u00xx, everything else (including U+2028, <, >, &) as is.
// Invalid UTF-8, which a Rust String cannot hold, becomes U+FFFD as Rust's lossy conversion does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// appendRustFloat appends f as serde_json writes an f64: the shortest digits that round-trip,
// laid out as Rust's Ryu does (the decimal exponent k places the point: 0 < k <= 16 is plain
// notation, -5 < k <= 0 is 0.000ddd, anything else is scientific with an explicit sign), with
// ".0" on integral values, and null for NaN and infinities.
func appendRustFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return append(dst, "null"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// 'e' with shortest precision gives d.ddddde±XX.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	n := len(digits)
	k := exp + 1 // value = 0.digits × 10^k
	switch {
	case k >= n && k <= 16:
		dst = append(dst, digits...)
		for range k - n {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case k > 0 && k <= 16:
		dst = append(dst, digits[:k]...)
		dst = append(dst, '.')
		return append(dst, digits[k:]...)
	case k > -5 && k <= 0:
		dst = append(dst, '0', '.')
		for range -k {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0])
	if n > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if exp >= 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}

// intOrFloat is ccusage's json_float, used for a block's costUSD: an integral finite value in
// i64 range is written as an integer, anything else as a float.
func intOrFloat(f float64) node {
	if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
		return jsonFloat(f)
	}
	if f >= math.MaxInt64 { // 2^63: Rust's saturating cast
		return jsonInt(math.MaxInt64)
	}
	return jsonInt(int64(f))
}

// timeNode formats t as ccusage does: UTC with milliseconds, 2006-01-02T15:04:05.000Z.
func timeNode(t time.Time) node {
	return jsonString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

func stringsNode(ss []string) node {
	a := make(jsonArray, len(ss))
	for i, s := range ss {
		a[i] = jsonString(s)
	}
	return a
}
