package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// BenchmarkPurgeSession measures a session purge of a store of 100,000 events in 200 sessions:
// the purge itself (purge_ms), the reset of derived data (reset_ms) and the scrub that makes the
// bytes leave the disk (scrub_ms: a flush, a compaction of the whole store, manifest rotations).
func BenchmarkPurgeSession(b *testing.B) {
	const events = 100_000
	var purge, reset, scrub time.Duration
	for i := range b.N {
		b.StopTimer()
		s, _ := newStore(b)
		now := time.Now()
		for at := 0; at < events; at += 1000 {
			evs := make([]sdk.Event, 1000)
			for j := range evs {
				evs[j] = benchEvent(at+j, now)
			}
			commit(b, s, ptrs(evs)...)
		}
		if err := s.Compact(); err != nil {
			b.Fatal(err)
		}
		session := fmt.Sprintf("0b7e5c9a-3f1d-4e2a-9c6b-%012d", (i*37)%(events/500))
		b.StartTimer()
		t0 := time.Now()
		res, err := s.PurgeEvents(store.PurgeSelection{Session: session})
		if err != nil || res.Events != 500 {
			b.Fatalf("PurgeEvents = %+v, %v; want 500 events", res, err)
		}
		t1 := time.Now()
		if _, err := s.ResetDerived(store.ResetOptions{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := s.Scrub(context.Background()); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		purge, reset, scrub = purge+t1.Sub(t0), reset+t2.Sub(t1), scrub+t3.Sub(t2)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(purge.Milliseconds())/n, "purge_ms")
	b.ReportMetric(float64(reset.Milliseconds())/n, "reset_ms")
	b.ReportMetric(float64(scrub.Milliseconds())/n, "scrub_ms")
}
