// Package storetest opens stores for the tests of the packages that use one, in the manner of
// net/http/httptest: a fresh directory, a fixed payload key, closed when the test ends.
package storetest

import (
	"testing"

	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/seal"
)

// Key is the payload key of the stores Open opens: fixed, so that a test may seal and open
// payloads itself, and never a user's.
var Key = func() *seal.Key {
	k, err := seal.NewKey([]byte("hangar-tests-payload-key-32bytes"))
	if err != nil {
		panic(err)
	}
	return k
}()

// Open opens a store in a fresh temporary directory with Key, and closes it when the test ends.
func Open(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{PayloadKey: Key})
	if err != nil {
		t.Fatalf("open a test store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
