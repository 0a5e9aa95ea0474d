package usagestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/store"
)

// BenchmarkBucketsLastDay reads the last day of histories of 30 and 720 days (two sessions: 384
// buckets a day) with Buckets, and, for comparison, as the read did before it seeked: a scan of
// every bucket from the first, skipping those before the day. It reports the buckets read and the
// keys the store handed over per read: with the seek, the last day costs the same whatever the
// history's length.
func BenchmarkBucketsLastDay(b *testing.B) {
	for _, days := range []int{30, 720} {
		st := openPebble(b)
		all := history(days, 2)
		putBuckets(b, st, all)
		from := historyStart.Add(time.Duration(days-1) * 24 * time.Hour)
		b.Run(fmt.Sprintf("history=%dd/seek", days), func(b *testing.B) {
			c := &countingStore{st: st}
			n := 0
			for b.Loop() {
				for _, err := range buckets(c, from, time.Time{}) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/float64(b.N), "buckets/op")
			b.ReportMetric(float64(c.keys)/float64(b.N), "keys/op")
		})
		b.Run(fmt.Sprintf("history=%dd/scan-from-first", days), func(b *testing.B) {
			n, keys := 0, 0
			for b.Loop() {
				k, err := scanFromFirst(st, from, func(usage.Bucket) { n++ })
				if err != nil {
					b.Fatal(err)
				}
				keys += k
			}
			b.ReportMetric(float64(n)/float64(b.N), "buckets/op")
			b.ReportMetric(float64(keys)/float64(b.N), "keys/op")
		})
	}
}

// scanFromFirst reads the buckets that start at or after from as the read API did before it
// seeked: every bucket key from the first, parsed to be skipped. It returns how many keys it read.
func scanFromFirst(st *store.Store, from time.Time, fn func(usage.Bucket)) (int, error) {
	keys := 0
	err := st.ScanState(Name, []byte{bucketPrefix}, func(k, v []byte) error {
		keys++
		bk, err := usage.ParseBucketKey(k[1:])
		if err != nil {
			return err
		}
		if bk.Start.Before(from) {
			return nil
		}
		bu := usage.Bucket{}
		if err := bu.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("usage bucket: %w", err)
		}
		bu.Key = bk
		fn(bu)
		return nil
	})
	return keys, err
}
