package main

import (
	"os"
	"testing"
)

func TestZZSeedLocal(t *testing.T) {
	dir := os.Getenv("ZZ_SEED_DIR")
	if dir == "" {
		t.Skip()
	}
	seedStore(t, dir, benchSpec)
}
