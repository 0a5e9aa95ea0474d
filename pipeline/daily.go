package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar/store"
)

// DailyCounts is a built-in consumer that counts events by UTC day, platform and kind. Its counts
// commit with its cursor, so they equal what the log holds, exactly once, across crashes.
type DailyCounts struct {
	st *store.Store
}

var _ Consumer = (*DailyCounts)(nil)

// DailyCountsName is the consumer's name.
const DailyCountsName = "daily-counts"

// NewDailyCounts returns the consumer over st.
func NewDailyCounts(st *store.Store) *DailyCounts { return &DailyCounts{st: st} }

// Name implements Consumer.
func (*DailyCounts) Name() string { return DailyCountsName }

// Consume implements Consumer.
func (d *DailyCounts) Consume(_ context.Context, entries []Entry, b *store.Batch) error {
	sums := map[string]int64{}
	var order []string
	for _, e := range entries {
		k := e.Event.Time.UTC().Format("2006-01-02") + "\x00" + e.Event.Platform + "\x00" + e.Event.Kind
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		sums[k]++
	}
	for _, k := range order {
		n, err := d.count(k)
		if err != nil {
			return err
		}
		b.PutState(DailyCountsName, []byte(k), binary.BigEndian.AppendUint64(nil, uint64(n+sums[k])))
	}
	return nil
}

func (d *DailyCounts) count(key string) (int64, error) {
	v, err := d.st.State(DailyCountsName, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, Permanent(fmt.Errorf("daily count %q: value of %d bytes", key, len(v)))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// DayCount is one row of DailyCounts.
type DayCount struct {
	Day      string `json:"day"`
	Platform string `json:"platform"`
	Kind     string `json:"kind"`
	Count    int64  `json:"count"`
}

// Days returns the counts, by day then platform then kind.
func (d *DailyCounts) Days() ([]DayCount, error) {
	var out []DayCount
	err := d.st.ScanState(DailyCountsName, nil, func(k, v []byte) error {
		parts := strings.SplitN(string(k), "\x00", 3)
		if len(parts) != 3 || len(v) != 8 {
			return fmt.Errorf("daily counts: bad entry %q", k)
		}
		out = append(out, DayCount{Day: parts[0], Platform: parts[1], Kind: parts[2], Count: int64(binary.BigEndian.Uint64(v))})
		return nil
	})
	return out, err
}
