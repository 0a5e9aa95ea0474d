package usage

import (
	"iter"
	"slices"
	"time"
)

// Rollup is an in-memory set of buckets, one per [BucketKey]: what a store keeps (the rollup of
// package pipeline/usagestore is the same set, in the store), for tests and for callers that hold
// usage in memory. The zero Rollup is ready to use. It is not safe for
// concurrent use.
type Rollup struct {
	buckets map[BucketKey]*Bucket
}

// Add adds e to its bucket, creating the bucket on first use.
func (r *Rollup) Add(e Entry) {
	r.bucket(KeyFor(e)).Add(e)
}

// Remove takes e back from its bucket; see [Bucket.Remove] for what the result means. A bucket
// left with no entries is dropped.
func (r *Rollup) Remove(e Entry) (exact bool) {
	k := KeyFor(e)
	b, ok := r.buckets[k]
	if !ok {
		return false
	}
	exact = b.Remove(e)
	if b.Entries == 0 {
		delete(r.buckets, k)
	}
	return exact
}

// Merge merges b into the bucket with b's key (its Start floored to a slot boundary).
func (r *Rollup) Merge(b Bucket) {
	r.bucket(b.Key).Merge(&b)
}

func (r *Rollup) bucket(k BucketKey) *Bucket {
	k.Start = time.UnixMilli(floorDiv(k.Start.UnixMilli(), slotMillis) * slotMillis).UTC()
	if r.buckets == nil {
		r.buckets = make(map[BucketKey]*Bucket)
	}
	b, ok := r.buckets[k]
	if !ok {
		b = &Bucket{Key: k}
		r.buckets[k] = b
	}
	return b
}

// Len returns the number of buckets.
func (r *Rollup) Len() int { return len(r.buckets) }

// Buckets returns copies of the buckets in key order. The Rollup must not change while the
// sequence is iterated.
func (r *Rollup) Buckets() iter.Seq[Bucket] {
	keys := make([]BucketKey, 0, len(r.buckets))
	for k := range r.buckets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, BucketKey.Compare)
	return func(yield func(Bucket) bool) {
		for _, k := range keys {
			if !yield(*r.buckets[k]) {
				return
			}
		}
	}
}
