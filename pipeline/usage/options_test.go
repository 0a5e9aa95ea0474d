package usage

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero value", Options{}, true},
		{"every field", Options{Since: Date{2025, 6, 1}, Until: Date{2025, 6, 30}, Mode: ModeDisplay, Order: OrderDesc,
			StartOfWeek: time.Saturday, SessionLength: 150 * time.Minute, TokenLimit: "max"}, true},
		{"numeric token limit", Options{TokenLimit: "500000"}, true},
		{"bad token limit", Options{TokenLimit: "lots"}, false},
		{"bad mode", Options{Mode: 3}, false},
		{"bad order", Options{Order: 2}, false},
		{"bad weekday", Options{StartOfWeek: 7}, false},
		{"session length not whole slots", Options{SessionLength: 100 * time.Minute}, false},
		{"session length under an hour", Options{SessionLength: 45 * time.Minute}, false},
		{"impossible date", Options{Since: Date{2025, 2, 30}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadOption) {
				t.Errorf("Validate() = %v, not ErrBadOption", err)
			}
			if _, err := Blocks(slices.Values([]Bucket(nil)), tt.opts); (err == nil) != tt.ok {
				t.Errorf("Blocks() error = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2025-06-08", Date{2025, 6, 8}, true},
		{"20250608", Date{2025, 6, 8}, true},
		{"2025-6-8", Date{}, false},
		{"20250231", Date{}, false},
		{"", Date{}, false},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestWeekStart(t *testing.T) {
	sat := Date{2025, 6, 7}
	tests := []struct {
		start time.Weekday
		want  Date
	}{
		{time.Sunday, Date{2025, 6, 1}},
		{time.Monday, Date{2025, 6, 2}},
		{time.Saturday, Date{2025, 6, 7}},
	}
	for _, tt := range tests {
		if got := WeekStart(sat, tt.start); got != tt.want {
			t.Errorf("WeekStart(%v, %v) = %v, want %v", sat, tt.start, got, tt.want)
		}
	}
}

// A bucket is in the date range exactly when its start is in TimeRange.
func TestTimeRange(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		loc, err := time.LoadLocation(refZones[r.IntN(len(refZones))])
		if err != nil {
			t.Fatal(err)
		}
		base := ms("2025-03-20T00:00:00Z")
		d := DateOf(base.Add(time.Duration(r.IntN(30*24))*time.Hour), loc)
		opts := Options{Location: loc, Since: d, Until: d.AddDays(r.IntN(3))}
		from, to := opts.TimeRange()
		start := base.Add(time.Duration(r.IntN(40*24*4)) * SlotDuration)
		in := opts.inRange(DateOf(start, loc))
		if got := !start.Before(from) && start.Before(to); got != in {
			t.Fatalf("%v in %s: TimeRange [%v, %v) says %v, date range says %v", start, loc, from, to, got, in)
		}
	}
}
