package usage

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadOption means an [Options] field, or a string parsed into one, is invalid.
var ErrBadOption = errors.New("usage: bad option")

// DefaultSessionLength is ccusage's billing block length.
const DefaultSessionLength = 5 * time.Hour

// recentDays is how far back Options.Recent looks, as ccusage's --recent does.
const recentDays = 3

// Options selects and shapes a report, mirroring ccusage's flags. The zero value is ccusage's
// defaults in the local time zone.
type Options struct {
	// Since and Until keep usage whose date in Location is within [Since, Until]; a zero Date is
	// unbounded. Daily, weekly, monthly and session reports filter entries (so a week or session
	// can be partial); blocks are built from all usage and then kept by their start date.
	Since, Until Date
	// Location is the time zone for dates (ccusage's -z); nil means time.Local.
	Location *time.Location
	// Project keeps only buckets whose project key equals it; "" keeps all. ccusage has it for
	// the daily report only, whose rows then name their project.
	Project string
	// Instances groups the daily report by project too (ccusage's --instances).
	Instances bool
	// ProjectName turns a project key into the session report's projectPath and into the name
	// that orders usage like ccusage's transcript paths; nil shows the key itself.
	ProjectName func(key string) string
	// Mode selects which cost sum reports show.
	Mode CostMode
	// Breakdown is ccusage's --breakdown. Its JSON is the same either way (modelBreakdowns is
	// always present), so reports ignore it; it is here for table renderers.
	Breakdown bool
	// StartOfWeek is the first day of a week in the weekly report (ccusage's -w); the zero value
	// is Sunday, ccusage's default.
	StartOfWeek time.Weekday
	// Order sorts daily, weekly and monthly rows and blocks by date or start time. The session
	// report ignores it, as ccusage 20.0.24 does: sessions are always by cost, highest first.
	Order Order
	// Now is the time blocks are judged active against; zero means time.Now().
	Now time.Time
	// SessionLength is the block length (ccusage's -n); zero means DefaultSessionLength. It must
	// be a whole number of SlotDuration and at least an hour, or blocks would not be exact sums of
	// buckets.
	SessionLength time.Duration
	// TokenLimit is ccusage's --token-limit for blocks: "" for none, "max" for the most tokens
	// of any finished block shown, or a token count. An active block then gets a
	// tokenLimitStatus.
	TokenLimit string
	// Active keeps only the active block (ccusage's --active).
	Active bool
	// Recent keeps blocks that started in the last three days, and the active one (--recent).
	Recent bool
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	switch {
	case o.Mode < ModeAuto || o.Mode > ModeDisplay:
		return fmt.Errorf("validate options: mode %d: %w", int(o.Mode), ErrBadOption)
	case o.Order != OrderAsc && o.Order != OrderDesc:
		return fmt.Errorf("validate options: order %d: %w", int(o.Order), ErrBadOption)
	case o.StartOfWeek < time.Sunday || o.StartOfWeek > time.Saturday:
		return fmt.Errorf("validate options: start of week %d: %w", int(o.StartOfWeek), ErrBadOption)
	case o.SessionLength != 0 && (o.SessionLength < time.Hour || o.SessionLength%SlotDuration != 0):
		return fmt.Errorf("validate options: session length %v is not a whole number of %v of at least 1h: %w",
			o.SessionLength, SlotDuration, ErrBadOption)
	}
	for _, d := range [...]Date{o.Since, o.Until} {
		if !d.IsZero() && !d.valid() {
			return fmt.Errorf("validate options: date %v: %w", d, ErrBadOption)
		}
	}
	if _, err := o.tokenLimit(); err != nil {
		return err
	}
	return nil
}

func (o *Options) location() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o *Options) sessionLength() time.Duration {
	if o.SessionLength == 0 {
		return DefaultSessionLength
	}
	return o.SessionLength
}

func (o *Options) projectName(key string) string {
	if o.ProjectName == nil {
		return key
	}
	return o.ProjectName(key)
}

// tokenLimit parses TokenLimit: whether it is set, whether it is "max", and the count.
func (o *Options) tokenLimit() (limit tokenLimit, err error) {
	switch o.TokenLimit {
	case "":
		return tokenLimit{}, nil
	case "max":
		return tokenLimit{set: true, useMax: true}, nil
	}
	n, err := strconv.ParseUint(o.TokenLimit, 10, 64)
	if err != nil {
		return tokenLimit{}, fmt.Errorf("validate options: token limit %q: %w", o.TokenLimit, errors.Join(ErrBadOption, err))
	}
	return tokenLimit{set: true, tokens: n}, nil
}

// tokenLimit is a parsed Options.TokenLimit.
type tokenLimit struct {
	set, useMax bool
	tokens      uint64
}

// TimeRange returns the bucket starts [from, to) that daily, weekly, monthly and session reports
// read for Since and Until in Location, so that a store keyed by time can scan only those; a
// zero from or to is unbounded. Blocks need usage before Since too.
func (o *Options) TimeRange() (from, to time.Time) {
	loc := o.location()
	if !o.Since.IsZero() {
		from = time.Date(o.Since.Year, o.Since.Month, o.Since.Day, 0, 0, 0, 0, loc).UTC()
	}
	if !o.Until.IsZero() {
		next := o.Until.AddDays(1)
		to = time.Date(next.Year, next.Month, next.Day, 0, 0, 0, 0, loc).UTC()
	}
	return from, to
}

// inRange reports whether d is within [Since, Until].
func (o *Options) inRange(d Date) bool {
	return (o.Since.IsZero() || !d.Before(o.Since)) && (o.Until.IsZero() || !o.Until.Before(d))
}

// Order is the sort direction of report rows.
type Order int

// Orders. The zero value is OrderAsc, ccusage's default.
const (
	OrderAsc Order = iota
	OrderDesc
)

// ParseOrder parses "asc" or "desc".
func ParseOrder(s string) (Order, error) {
	switch s {
	case "asc":
		return OrderAsc, nil
	case "desc":
		return OrderDesc, nil
	}
	return 0, fmt.Errorf("parse order %q: %w", s, ErrBadOption)
}

// Date is a calendar date, as ccusage's --since and --until take.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses "2006-01-02" or "20060102".
func ParseDate(s string) (Date, error) {
	layout := "2006-01-02"
	if len(s) == 8 {
		layout = "20060102"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: %w", s, errors.Join(ErrBadOption, err))
	}
	return DateOf(t, time.UTC), nil
}

// DateOf returns the date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Before reports whether d is an earlier date than e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// AddDays returns the date n days after d.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC), time.UTC)
}

// Weekday returns d's day of the week.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// String formats d as "2006-01-02".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// month formats d's month as "2006-01".
func (d Date) month() string {
	return fmt.Sprintf("%04d-%02d", d.Year, int(d.Month))
}

func (d Date) valid() bool {
	return d.AddDays(0) == d
}
