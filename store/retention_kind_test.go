package store_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/store"
)

// TestExpireDerivedByKind expires each metrics width at its own cutoff and every other kind at
// the events' cutoff, records and view entries alike, and keeps a kind with a zero cutoff.
func TestExpireDerivedByKind(t *testing.T) {
	s, _ := newStore(t)
	kinds := []string{"metrics.1m", "metrics.1h", "metrics.1d", "conversation.session"}
	var old []derivedSpec
	for _, k := range kinds {
		old = append(old, derivedSpec{k, "old-" + k})
	}
	oldEvs := commitDerived(t, s, old...)
	mid := oldEvs[len(oldEvs)-1].IngestTime
	waitPast(mid)
	var fresh []derivedSpec
	for _, k := range kinds {
		fresh = append(fresh, derivedSpec{k, "new-" + k})
	}
	newEvs := commitDerived(t, s, fresh...)
	late := newEvs[len(newEvs)-1].IngestTime.Add(time.Nanosecond)
	// View entries: an old and a fresh key of each kind.
	for _, k := range kinds {
		ev := derivedEvent("view-"+k, k, 0)
		if err := store.PutViewEntry(s, k, "old-key", ev, oldEvs[0].IngestTime); err != nil {
			t.Fatal(err)
		}
		if err := store.PutViewEntry(s, k, "new-key", ev, newEvs[0].IngestTime); err != nil {
			t.Fatal(err)
		}
	}
	cut := store.DerivedCutoffs{
		Default: newEvs[0].IngestTime, // the events' cutoff: between the old and the new
		ByKind: map[string]time.Time{
			"metrics.1m": late,        // everything of the 1-minute width expires
			"metrics.1h": mid.Add(1),  // its old record only
			"metrics.1d": time.Time{}, // kept forever
		},
	}
	n, err := s.ExpireDerived(cut)
	if err != nil {
		t.Fatal(err)
	}
	// Records: 1m both, 1h old, session old = 4; view: 1m both, 1h old, session old = 4.
	if n != 8 {
		t.Errorf("ExpireDerived = %d, want 8", n)
	}
	want := map[string][]string{
		"metrics.1m":           nil,
		"metrics.1h":           {"new-metrics.1h"},
		"metrics.1d":           {"old-metrics.1d", "new-metrics.1d"},
		"conversation.session": {"new-conversation.session"},
	}
	for _, k := range kinds {
		var names []string
		for _, r := range scanKept(t, s, k, 0) {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, want[k]) {
			t.Errorf("%s records after expiry: %v, want %v", k, names, want[k])
		}
	}
	views, err := store.ViewKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	wantViews := map[string][]string{
		"metrics.1h":           {"new-key"},
		"metrics.1d":           {"new-key", "old-key"},
		"conversation.session": {"new-key"},
	}
	if !maps.EqualFunc(views, wantViews, slices.Equal[[]string]) {
		t.Errorf("view after expiry: %v, want %v", views, wantViews)
	}
	if again, err := s.ExpireDerived(cut); again != 0 || err != nil {
		t.Errorf("second ExpireDerived = %d, %v, want 0", again, err)
	}
	// DeleteDerivedBefore is every kind at one cutoff, views included.
	if n, err := s.DeleteDerivedBefore(late); n != 8 || err != nil {
		t.Errorf("DeleteDerivedBefore(after all) = %d, %v, want 8 (4 records and 4 view entries)", n, err)
	}
}
