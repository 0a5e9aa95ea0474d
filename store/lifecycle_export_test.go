package store

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// PutViewEntry writes a view entry (key v kind 0x00 key) of ev stored at ingest, as the view of
// keyed derived records keeps them, for the tests of retention and purge.
func PutViewEntry(s *Store, kind, key string, ev sdk.Event, ingest time.Time) error {
	ev.IngestTime = ingest
	enc, err := ev.MarshalBinary()
	if err != nil {
		return err
	}
	k := append([]byte{prefixView}, kind...)
	k = append(k, 0)
	k = append(k, key...)
	return s.db.Set(k, enc, pebble.Sync)
}

// ViewKeys returns the view's keys by kind.
func ViewKeys(s *Store) (map[string][]string, error) {
	out := map[string][]string{}
	err := s.ScanAll(func(k, _ []byte) error {
		if k[0] != prefixView {
			return nil
		}
		for i := 1; i < len(k); i++ {
			if k[i] == 0 {
				out[string(k[1:i])] = append(out[string(k[1:i])], string(k[i+1:]))
				break
			}
		}
		return nil
	})
	return out, err
}
