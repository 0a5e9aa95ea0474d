package pricing

import "fmt"

// Mode is how a transcript entry's cost is obtained, ccusage's --mode.
type Mode string

// Cost modes. The zero Mode behaves as Auto.
const (
	// Auto uses the entry's costUSD when it has one, else calculates from tokens.
	Auto Mode = "auto"
	// Calculate always calculates from tokens.
	Calculate Mode = "calculate"
	// Display uses the entry's costUSD, else 0.
	Display Mode = "display"
)

// ParseMode parses "auto", "calculate" or "display"; anything else wraps [ErrUnknownMode].
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Calculate, Display:
		return m, nil
	}
	return "", fmt.Errorf("parse cost mode %q: %w (want auto, calculate or display)", s, ErrUnknownMode)
}

// String returns the mode's name.
func (m Mode) String() string {
	if m == "" {
		return string(Auto)
	}
	return string(m)
}

// EntryCost returns the cost in USD of one transcript entry in the given mode: model and u are the
// entry's message.model and usage, costUSD its costUSD field (hasCostUSD: whether the entry has one).
//
// priced is false exactly when ccusage would report the entry's model as unpriced: the mode needed
// a calculation (calculate, or auto without costUSD), the entry has a model name and tokens, and
// the table has no price for the name. Such an entry costs 0. An entry without a model name (model
// "") costs 0 and is not reported, as in ccusage.
func (t *Table) EntryCost(mode Mode, model string, u Usage, costUSD float64, hasCostUSD bool) (usd float64, priced bool) {
	switch mode {
	case Display:
		if hasCostUSD {
			return costUSD, true
		}
		return 0, true
	case Calculate:
	default: // Auto
		if hasCostUSD {
			return costUSD, true
		}
	}
	if model == "" {
		return 0, true
	}
	p, ok := t.Lookup(model)
	if !ok {
		return 0, u.Input+u.Output+u.CacheCreation5m+u.CacheCreation1h+u.CacheRead == 0
	}
	return p.Cost(u), true
}
