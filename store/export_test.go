package store

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Hooks for the external tests in package store_test.

// RetentionChunk is how many events one retention batch deletes.
const RetentionChunk = retentionChunk

// WriteFormatKey opens the Pebble database in dir directly, with the store's merger, and sets the
// store format key to v, raw. The store must not be open.
func WriteFormatKey(dir string, v []byte) error {
	db, err := pebble.Open(dir, &pebble.Options{Merger: counterMerger, FormatMajorVersion: pebble.FormatNewest, Logger: pebbleLogger{}})
	if err != nil {
		return fmt.Errorf("raw open %s: %w", dir, err)
	}
	if err := db.Set(metaFormat, v, pebble.Sync); err != nil {
		db.Close()
		return fmt.Errorf("raw set format: %w", err)
	}
	return db.Close()
}

// FormatValue encodes a format version as the store writes it.
func FormatValue(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// AppenderHeld reports whether some batch holds the store's single-appender lock.
func AppenderHeld(s *Store) bool {
	if s.appendMu.TryLock() {
		s.appendMu.Unlock()
		return false
	}
	return true
}

// TablesSize returns the bytes of the store's live sstables, leaving out the WAL and other files
// that DiskSize counts.
func TablesSize(s *Store) int64 {
	total := s.db.Metrics().Total()
	return total.TablesSize
}

// KeyCount returns how many keys the keyspace with the prefix byte holds: 'e' events, 'i' the id
// index, 's' the session index, 't' the time index, 'd' dead letters.
func KeyCount(s *Store, prefix byte) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		it.Close()
		return 0, err
	}
	return n, it.Close()
}

// SetRawDLQ writes value, raw, as the dead letter seq: a record as an earlier build wrote it.
func SetRawDLQ(s *Store, seq uint64, value []byte) error {
	return s.db.Set(dlqKey(seq), value, pebble.Sync)
}
