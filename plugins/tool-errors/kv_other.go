//go:build !wasip1

package main

// memKV stands in for the host's kv natively, for the unit tests of the insight's logic.
var memKV = map[string][]byte{}

func kvGet(key string) []byte { return memKV[key] }

func kvSet(key string, value []byte) { memKV[key] = append([]byte(nil), value...) }
