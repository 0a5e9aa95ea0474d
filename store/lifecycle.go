package store

// The lifecycle of stored data beyond retention: purging events on request (PurgeEvents), the
// reset of everything derived from them so that it can be rebuilt from the log (ResetDerived), and
// the scrub that makes deleted bytes leave the disk (Scrub).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// PluginConsumerPrefix starts the consumer name of every enrich and insight plugin
// ("plugin:<name>"): ResetDerived deletes the cursors and state of all of them.
const PluginConsumerPrefix = "plugin:"

// ErrPurgeSelection is wrapped by the error of PurgeEvents for a selection that names nothing or
// more than one thing.
var ErrPurgeSelection = errors.New("store: purge needs one of before, session or all")

// PurgeSelection says which events PurgeEvents removes: exactly one of its fields is set.
type PurgeSelection struct {
	// Before selects the events whose event time is before it.
	Before time.Time
	// Session selects the events of one session.
	Session string
	// All selects every event.
	All bool
}

// Validate reports a selection that does not name exactly one thing.
func (p PurgeSelection) Validate() error {
	n := 0
	if !p.Before.IsZero() {
		n++
	}
	if p.Session != "" {
		n++
	}
	if p.All {
		n++
	}
	if n != 1 {
		return ErrPurgeSelection
	}
	return nil
}

// PurgeResult says what PurgeEvents removed.
type PurgeResult struct {
	Events      int `json:"events"`
	DeadLetters int `json:"dead_letters"`
	// DeadLettersUnchecked counts the dead letters whose payload could not be opened (sealed under
	// another payload key), so that a session purge could not tell whether they were the
	// session's: they are kept.
	DeadLettersUnchecked int `json:"dead_letters_unchecked,omitempty"`
}

// PurgeEvents removes the selected events from the log with their entries in the indexes (i, s,
// t), adjusting the counters, and the dead letters of what it purged: for All, every one; for a
// session, those whose opened payload holds the session id or whose record is a purged event; for
// Before, those queued before the time or whose record is a purged event. Derived data is left to
// ResetDerived, and the bytes to Scrub.
//
// No batch of events is built or committed meanwhile (it holds the store's append and commit
// slots, so the intake waits), and retention does not run. Transcript checkpoints (k) stay, so a
// purged transcript is not read again.
func (s *Store) PurgeEvents(sel PurgeSelection) (PurgeResult, error) {
	var res PurgeResult
	if err := sel.Validate(); err != nil {
		return res, err
	}
	if s.closed.Load() {
		return res, fmt.Errorf("purge events: %w", ErrClosed)
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.appendMu.Lock()
	s.commitMu.Lock()
	purged := map[sdk.ID]bool{}
	var err error
	switch {
	case sel.All:
		res.Events, err = s.purgeAllEvents()
	case sel.Session != "":
		p := sessionPrefix(sel.Session)
		res.Events, err = s.purgeIndexed(p, prefixEnd(p), purged)
	default:
		res.Events, err = s.purgeIndexed([]byte{prefixTime}, timeKey(sel.Before, 0), purged)
	}
	s.commitMu.Unlock()
	s.appendMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("purge events: %w", err)
	}
	res.DeadLetters, res.DeadLettersUnchecked, err = s.purgeDeadLetters(sel, purged)
	if err != nil {
		return res, fmt.Errorf("purge dead letters: %w", err)
	}
	return res, nil
}

// purgeAllEvents range-deletes the log and its indexes and zeroes the event counters. The caller
// holds appendMu and commitMu.
func (s *Store) purgeAllEvents() (int, error) {
	s.mu.Lock()
	deltas := map[string]int64{}
	total := 0
	for k, n := range s.counters {
		if strings.HasPrefix(k, counterEvent) && n != 0 {
			deltas[k] = -n
			total += int(n)
		}
	}
	s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixEvent, prefixID, prefixSession, prefixTime} {
		if err := b.DeleteRange([]byte{p}, []byte{p + 1}, nil); err != nil {
			return 0, err
		}
	}
	for k, d := range deltas {
		if err := b.Merge(nameKey(prefixCounter, k), encodeDelta(d), nil); err != nil {
			return 0, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	s.commitNotify(0, deltas)
	return total, nil
}

// purgeIndexed deletes the events an index range [lower, upper) of s or t names, in batches of
// retentionChunk, and records their ids in purged. The caller holds appendMu and commitMu.
func (s *Store) purgeIndexed(lower, upper []byte, purged map[sdk.ID]bool) (int, error) {
	total := 0
	for {
		n, more, err := s.purgeChunk(lower, upper, purged)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

func (s *Store) purgeChunk(lower, upper []byte, purged map[sdk.ID]bool) (int, bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	deltas := map[string]int64{}
	n := 0
	var ev sdk.Event
	for ok := it.First(); ok && n < retentionChunk; ok = it.Next() {
		seq := seqOf(it.Key())
		if err := s.getEvent(seq, &ev); errors.Is(err, ErrNotFound) {
			b.Delete(bytes.Clone(it.Key()), nil) // an index entry left without its event
			continue
		} else if err != nil {
			it.Close()
			return 0, false, err
		}
		b.Delete(eventKey(seq), nil)
		b.Delete(idKey(ev.ID), nil)
		b.Delete(timeKey(ev.Time, seq), nil)
		if ev.SessionID != "" {
			b.Delete(sessionKey(ev.SessionID, ev.Time, seq), nil)
		}
		deltas[counterEvent+ev.Platform+"\x00"+ev.Kind]--
		purged[ev.ID] = true
		n++
	}
	more := it.Valid()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, false, err
	}
	if b.Empty() {
		return 0, false, nil
	}
	for k, d := range deltas {
		if err := b.Merge(nameKey(prefixCounter, k), encodeDelta(d), nil); err != nil {
			return 0, false, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, false, err
	}
	s.commitNotify(0, deltas)
	return n, more, nil
}

// purgeDeadLetters deletes the dead letters of a purge (see PurgeEvents) and returns how many, and
// how many could not be checked.
func (s *Store) purgeDeadLetters(sel PurgeSelection, purged map[sdk.ID]bool) (n, unchecked int, err error) {
	var seqs []uint64
	if err := s.ScanDLQ(func(r DLQRecord) bool {
		switch {
		case sel.All, purged[r.RecordID]:
		case !sel.Before.IsZero() && r.Time.Before(sel.Before):
		case sel.Session != "" && r.Payload != nil && bytes.Contains(r.Payload, []byte(sel.Session)):
		default:
			if sel.Session != "" && r.Payload == nil && r.Sealed != nil {
				unchecked++
			}
			return true
		}
		seqs = append(seqs, r.Seq)
		return true
	}); err != nil {
		return 0, 0, err
	}
	if len(seqs) == 0 {
		return 0, unchecked, nil
	}
	b := s.NewBatch()
	defer b.Close()
	for _, seq := range seqs {
		b.DeleteDLQ(seq)
	}
	if err := b.Commit(); err != nil {
		return 0, unchecked, err
	}
	return len(seqs), unchecked, nil
}

// ResetOptions say what ResetDerived deletes besides the derived records, the view and every
// plugin consumer's cursor and state.
type ResetOptions struct {
	// Consumers are other consumers (the built-in ones) whose cursor and state are deleted, so
	// that they consume the log again from its start.
	Consumers []string
	// Keep are state keys (without the consumer prefix) kept, by consumer: what a consumer keeps
	// across a rebuild, such as the id of the price table the usage rollup prices with.
	Keep map[string][][]byte
}

// ResetResult says what ResetDerived deleted.
type ResetResult struct {
	// Consumers are the consumers whose cursor or state was deleted, sorted.
	Consumers []string `json:"consumers"`
	// DeadLetters counts the dead letters of those consumers that were dropped: the rebuild
	// gives their events to the consumers again.
	DeadLetters int `json:"dead_letters"`
}

// ResetDerived deletes everything derived from the event log so that it can be rebuilt: every
// derived record (r) and the view (v), the cursor (c) and state (x) of every plugin consumer
// ("plugin:<name>") and of opts.Consumers, less opts.Keep, and the dead letters of those consumers
// and of insight plugins (stages "consumer:<name>" and "insight:<name>"). Derived sequence numbers
// are not reused. The consumers must be stopped meanwhile; the caller starts them again, from the
// start of the log.
func (s *Store) ResetDerived(opts ResetOptions) (ResetResult, error) {
	res := ResetResult{Consumers: []string{}}
	if s.closed.Load() {
		return res, fmt.Errorf("reset derived data: %w", ErrClosed)
	}
	names, err := s.consumerNames()
	if err != nil {
		return res, fmt.Errorf("reset derived data: %w", err)
	}
	reset := map[string]bool{}
	for _, c := range opts.Consumers {
		reset[c] = true
	}
	for _, c := range names {
		if strings.HasPrefix(c, PluginConsumerPrefix) {
			reset[c] = true
		}
	}
	b := s.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixDerived, prefixView} {
		if err := b.b.DeleteRange([]byte{p}, []byte{p + 1}, nil); err != nil {
			return res, fmt.Errorf("reset derived data: %w", err)
		}
	}
	for c := range reset {
		b.b.Delete(nameKey(prefixCursor, c), nil)
		if err := deleteRangeKeeping(b.b, stateKey(c, nil), opts.Keep[c]); err != nil {
			return res, fmt.Errorf("reset derived data: %w", err)
		}
		res.Consumers = append(res.Consumers, c)
	}
	if err := s.ScanDLQ(func(r DLQRecord) bool {
		name, ok := strings.CutPrefix(r.Stage, "consumer:")
		if ok && reset[name] || strings.HasPrefix(r.Stage, "insight:") {
			b.DeleteDLQ(r.Seq)
			res.DeadLetters++
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("reset derived data: %w", err)
	}
	if err := b.Commit(); err != nil {
		return res, fmt.Errorf("reset derived data: %w", err)
	}
	slices.Sort(res.Consumers)
	return res, nil
}

// deleteRangeKeeping deletes every key with prefix p except p+k for each k of keep.
func deleteRangeKeeping(b *pebble.Batch, p []byte, keep [][]byte) error {
	keys := make([][]byte, 0, len(keep))
	for _, k := range keep {
		keys = append(keys, append(bytes.Clone(p), k...))
	}
	slices.SortFunc(keys, bytes.Compare)
	lo := p
	for _, k := range keys {
		if bytes.Compare(lo, k) < 0 {
			if err := b.DeleteRange(lo, k, nil); err != nil {
				return err
			}
		}
		lo = append(bytes.Clone(k), 0) // the key right after k
	}
	return b.DeleteRange(lo, prefixEnd(p), nil)
}

// consumerNames returns the names of the consumers that have a cursor or state.
func (s *Store) consumerNames() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCursor}, UpperBound: []byte{prefixCursor + 1}})
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		add(string(it.Key()[1:]))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	// State keys: x consumer 0x00 key; one seek per consumer.
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixState + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		end := bytes.IndexByte(k, 0)
		if end < 0 {
			ok = it.Next()
			continue
		}
		name := string(k[1:end])
		add(name)
		ok = it.SeekGE(prefixEnd(stateKey(name, nil)))
	}
	return out, it.Error()
}

// scrubKey is the key Scrub writes and flushes to make Pebble write new manifests.
var scrubKey = nameKey(prefixMeta, "scrub")

// Scrub makes the bytes of deleted data leave the disk, after a purge: deleted keys stay in
// Pebble's files until compaction rewrites them, and in its write-ahead logs and manifests (the
// manifest records the first and last key of every table, so a deleted key can live on as a
// table's bound). Scrub flushes the memtable (its log then becomes obsolete; the store never
// recycles logs, see Open, so an obsolete log is deleted, not reused with its old bytes in
// place), compacts the whole key range down to the last level (where tombstones and what they
// delete are both dropped), then makes Pebble rotate its manifest twice, so that every manifest
// written before is deleted (Pebble keeps one previous manifest), and waits until the obsolete
// files are gone. An iterator open meanwhile keeps the tables it reads (zombies) until it
// closes: Scrub waits for them until ctx ends.
func (s *Store) Scrub(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("scrub store: %w", ErrClosed)
	}
	if s.readOnly {
		return errors.New("scrub store: the store is read-only")
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("scrub store: flush: %w", err)
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("scrub store: compact: %w", err)
	}
	before, err := s.manifests()
	if err != nil {
		return fmt.Errorf("scrub store: %w", err)
	}
	// Each flush of a one-key memtable is a manifest edit of one table; Pebble rotates when the
	// edits since the last snapshot outnumber the live tables (MaxManifestFileSize is tiny, see
	// Open). Two rotations delete every earlier manifest.
	limit := 64 + 4*int(s.db.Metrics().Table.Local.LiveCount)
	for i := 0; ; i++ {
		if left, err := s.manifestsLeft(before); err != nil {
			return fmt.Errorf("scrub store: %w", err)
		} else if !left {
			break
		}
		if i >= limit {
			return fmt.Errorf("scrub store: the manifest did not rotate after %d flushes", i)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scrub store: %w", err)
		}
		if err := s.db.Set(scrubKey, []byte{byte(i)}, pebble.NoSync); err != nil {
			return fmt.Errorf("scrub store: %w", err)
		}
		if err := s.db.Flush(); err != nil {
			return fmt.Errorf("scrub store: flush: %w", err)
		}
	}
	if err := s.db.Delete(scrubKey, pebble.Sync); err != nil {
		return fmt.Errorf("scrub store: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("scrub store: flush: %w", err)
	}
	if err := s.db.Compact(ctx, []byte{prefixMeta}, []byte{prefixMeta + 1}, false); err != nil {
		return fmt.Errorf("scrub store: compact: %w", err)
	}
	for {
		m := s.db.Metrics()
		if m.Table.ObsoleteCount == 0 && m.Table.ZombieCount == 0 && m.WAL.ObsoleteFiles == 0 {
			if left, err := s.manifestsLeft(before); err != nil || !left {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scrub store: waiting for obsolete files to go: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// manifests returns the names of the manifest files in the store's directory.
func (s *Store) manifests() (map[string]bool, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			out[e.Name()] = true
		}
	}
	return out, nil
}

// manifestsLeft reports whether any of the manifests of before is still in the directory.
func (s *Store) manifestsLeft(before map[string]bool) (bool, error) {
	now, err := s.manifests()
	if err != nil {
		return false, err
	}
	for name := range now {
		if before[name] {
			return true, nil
		}
	}
	return false, nil
}

// noRecycleCleaner deletes Pebble's obsolete files (its Clean and String are
// pebble.DeleteCleaner's), and carries the marker of a cleaner that needs the files' contents
// (pebble.ArchiveCleaner's, embedded one level deeper, so that only the marker is promoted): for
// such a cleaner Pebble recycles no write-ahead log (obsolete_files.go). A recycled log keeps the
// bytes of what it logged until new writes pass over them, and those may be deleted data (a
// purged session); a log that is deleted takes them with it. The cost is a new file for each
// memtable instead of a reused one.
type noRecycleCleaner struct {
	pebble.DeleteCleaner
	needsContents
}

// needsContents holds the marker of pebble.ArchiveCleaner (see noRecycleCleaner).
type needsContents struct{ pebble.ArchiveCleaner }
