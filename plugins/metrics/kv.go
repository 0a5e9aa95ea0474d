package main

import (
	"encoding/binary"
	"hash/fnv"
)

// kvStore is the plugin's kv keyspace. An empty value deletes a key (the host's consumer keyspace
// deletes it; see pipeline/wasmstage), and Get reports an empty value as absent.
type kvStore interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
}

// memKV is a kvStore in memory, for native tests.
type memKV struct{ m map[string][]byte }

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (kv *memKV) Get(key []byte) ([]byte, bool) {
	v, ok := kv.m[string(key)]
	return v, ok && len(v) > 0
}

func (kv *memKV) Set(key, value []byte) {
	if len(value) == 0 {
		delete(kv.m, string(key))
		return
	}
	kv.m[string(key)] = append([]byte(nil), value...)
}

// Limits of the host's kv (host.MaxKVKey, host.MaxKVValue).
const (
	maxKVKey   = 256
	maxKVValue = 64 << 10
	// pageSize is the most bytes of a blob one kv value holds (less a page header).
	pageSize = maxKVValue - 16
)

// A blob is a value of any length kept in pages: the first page, under the blob's key, starts
// with the number of pages as a uvarint; page i > 0 is under key 0xff i.

func pageKey(key []byte, i int) []byte {
	k := append(append([]byte(nil), key...), 0xff)
	return binary.AppendUvarint(k, uint64(i))
}

// getBlob returns a blob and its number of pages (0: absent).
func getBlob(kv kvStore, key []byte) ([]byte, int) {
	first, ok := kv.Get(key)
	if !ok {
		return nil, 0
	}
	n, k := binary.Uvarint(first)
	if k <= 0 || n == 0 {
		return nil, 0
	}
	data := append([]byte(nil), first[k:]...)
	for i := 1; i < int(n); i++ {
		p, _ := kv.Get(pageKey(key, i))
		data = append(data, p...)
	}
	return data, int(n)
}

// setBlob writes a blob (empty: deletes it) that had old pages, and returns its pages now.
func setBlob(kv kvStore, key, data []byte, old int) int {
	n := 0
	if len(data) > 0 {
		n = (len(data) + pageSize - 1) / pageSize
		first := binary.AppendUvarint(nil, uint64(n))
		end := min(len(data), pageSize)
		kv.Set(key, append(first, data[:end]...))
		for i := 1; i < n; i++ {
			kv.Set(pageKey(key, i), data[i*pageSize:min(len(data), (i+1)*pageSize)])
		}
	} else if old > 0 {
		kv.Set(key, nil)
	}
	for i := max(n, 1); i < old; i++ {
		kv.Set(pageKey(key, i), nil)
	}
	return n
}

// shortKey returns prefix+s, or prefix and a 16-byte hash of s when that would be too long for a
// kv key.
func shortKey(prefix byte, s string) []byte {
	if len(s) < maxKVKey-24 {
		return append([]byte{prefix}, s...)
	}
	h := fnv.New128a()
	h.Write([]byte(s))
	return h.Sum([]byte{prefix, 0})
}
