package pricing

import "strings"

// find resolves model as ccusage's PricingMap::find does offline (see the package documentation).
func (t *Table) find(model string) (entry, bool) {
	if e, ok := t.primary[model]; ok {
		return e, true
	}
	// A name that spells an exact-only models.dev tier must reach that tier, not the fuzzy match
	// of its base model in the primary table.
	gated := t.exact.containsAnySpelling(model)
	if !gated {
		if e, ok := fuzzy(t.primary, nil, model); ok {
			return e, true
		}
	}
	if e, ok := t.fallback[model]; ok {
		return e, true
	}
	if id, ok := t.exact.idSpelledBy(model); ok {
		e, ok := t.fallback[id]
		return e, ok
	}
	if gated {
		return entry{}, false
	}
	return fuzzy(t.fallback, t.exact.raw, model)
}

// fuzzy returns the entry of the longest key of m (the lexically smallest among equals) that
// matches model, skipping the keys in exclude.
func fuzzy(m map[string]entry, exclude map[string]bool, model string) (entry, bool) {
	nmodel := normalizeKey(model)
	best, found := "", false
	for key := range m {
		if exclude[key] || !keyMatches(key, model, nmodel) {
			continue
		}
		if !found || len(key) > len(best) || (len(key) == len(best) && key < best) {
			best, found = key, true
		}
	}
	if !found {
		return entry{}, false
	}
	return m[best], true
}

// keyMatches reports whether a table key and a model name name the same model: either contains the
// other at a boundary, as written or with '.' and '@' read as '-'.
func keyMatches(key, model, nmodel string) bool {
	if containsKey(model, key) || containsKey(key, model) {
		return true
	}
	nkey := normalizeKey(key)
	return containsKey(nmodel, nkey) || containsKey(nkey, nmodel)
}

// containsKey reports whether key occurs in value (non-overlapping occurrences, left to right)
// with a boundary before it and an allowed suffix after it.
func containsKey(value, key string) bool {
	if key == "" {
		return false
	}
	for from := 0; from+len(key) <= len(value); {
		i := strings.Index(value[from:], key)
		if i < 0 {
			return false
		}
		i += from
		if (i == 0 || isBoundary(value[i-1])) && suffixAllowsMatch(key, value[i+len(key):]) {
			return true
		}
		from = i + len(key)
	}
	return false
}

// suffixAllowsMatch reports whether what follows a key in a name leaves the key a whole model id:
// nothing, or a separator that does not start a new version number.
func suffixAllowsMatch(key, suffix string) bool {
	if suffix == "" {
		return true
	}
	if !isBoundary(suffix[0]) {
		return false
	}
	return !startsNewVersion(key, suffix)
}

// startsNewVersion reports whether suffix continues a key that ends in a digit with "-N" or ".N",
// another version component, rather than with an 8-digit date ("-20250514").
func startsNewVersion(key, suffix string) bool {
	if c := key[len(key)-1]; c < '0' || c > '9' {
		return false
	}
	if suffix[0] != '-' && suffix[0] != '.' {
		return false
	}
	rest := suffix[1:]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return false
	}
	return !(n == 8 && (n == len(rest) || isBoundary(rest[n])))
}

// isBoundary reports whether b is not an ASCII letter or digit.
func isBoundary(b byte) bool {
	return !('0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z')
}

// normalizeKey reads '.' and '@' as '-', the separator variants of one model id.
func normalizeKey(s string) string {
	if !strings.ContainsAny(s, ".@") {
		return s
	}
	return strings.NewReplacer(".", "-", "@", "-").Replace(s)
}
