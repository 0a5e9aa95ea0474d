//go:build race

package host

// raceEnabled reports whether the race detector is on: it distorts timings.
const raceEnabled = true
