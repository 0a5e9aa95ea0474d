package usagestore

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/store"
)

// stateRanger is what the read API needs of a store: *store.Store, or in tests one that counts
// the keys a read touches.
type stateRanger interface {
	ScanStateRange(consumer string, lower, upper []byte, fn func(key, value []byte) error) error
}

// Buckets returns the rollup's buckets that start from `from` (inclusive) to `to` (exclusive), in
// key order (usage.BucketKey.Compare); zero times leave that end open. It reads only those: the
// store seeks to the first bucket at or after from (usage.AppendTimeBound), so a short span at
// the end of a long history costs what the span holds.
//
// The sequence yields each bucket with a nil error; on an error (a store that fails, a bucket
// that does not decode) it yields a zero Bucket and the error, and stops.
func Buckets(st *store.Store, from, to time.Time) iter.Seq2[usage.Bucket, error] {
	return buckets(st, from, to)
}

// errStopped ends a scan whose sequence's consumer stopped.
var errStopped = errors.New("usagestore: stopped")

func buckets(st stateRanger, from, to time.Time) iter.Seq2[usage.Bucket, error] {
	return func(yield func(usage.Bucket, error) bool) {
		lower, upper := []byte{bucketPrefix}, []byte{bucketPrefix + 1} // every bucket
		if !from.IsZero() {
			lower = usage.AppendTimeBound([]byte{bucketPrefix}, from)
		}
		if !to.IsZero() {
			upper = usage.AppendTimeBound([]byte{bucketPrefix}, to)
		}
		err := st.ScanStateRange(Name, lower, upper, func(k, v []byte) error {
			bk, err := usage.ParseBucketKey(k[1:])
			if err != nil {
				return fmt.Errorf("usage bucket key: %w", err)
			}
			bu := usage.Bucket{}
			if err := bu.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("usage bucket: %w", err)
			}
			bu.Key = bk
			if !yield(bu, nil) {
				return errStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopped) {
			yield(usage.Bucket{}, err)
		}
	}
}

// UnpricedModels returns, sorted, the models the usage rollup found no price for: their usage
// counts 0 USD until a reprice finds one.
func UnpricedModels(st *store.Store) ([]string, error) {
	out := []string{}
	err := st.ScanState(Name, []byte{unpricedPrefix}, func(k, _ []byte) error {
		out = append(out, string(k[1:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unpriced models: %w", err)
	}
	return out, nil
}
