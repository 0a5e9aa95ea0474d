// Package usagetest compares usage reports for the tests of the packages that make them: decoded
// JSON, equal but for costs, which buckets sum in another order than ccusage (see package usage,
// "Fidelity").
package usagetest

import (
	"fmt"
	"math"
	"testing"
)

// JSONNear reports through t every difference between got and want, decoded JSON values, at or
// below path: numbers may differ by 1e-6, everything else must be equal. Members named in special
// are not compared but handed to their function (a project path that is a key here and a folder
// in ccusage's output, for example).
func JSONNear(t testing.TB, path string, got, want any, special map[string]func(t testing.TB, path string, got any)) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for k, wv := range w {
			if f, ok := special[k]; ok {
				f(t, path+"."+k, g[k])
				continue
			}
			JSONNear(t, path+"."+k, g[k], wv, special)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			JSONNear(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i], special)
		}
	case float64:
		if g, ok := got.(float64); !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	default:
		if got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}
