package host

import (
	"context"
	"testing"
	"time"
)

// TestGuestHeapStaysBounded makes 3,000 calls of 100 real payloads on one instance of a Go plugin
// under the default 32 MiB limit. A Go guest collects garbage only when its goroutine yields
// (sdk/pdk yields after each call); without that its heap grew by ~65 KB a call and it ran out of
// memory after ~500 calls. The instance's window is made large enough for it never to be recycled
// (it is shown about 150 MB of tool input): the one instance must serve every call.
func TestGuestHeapStaysBounded(t *testing.T) {
	skipShort(t)
	payloads := hookPayloads(t)
	h := newTestHost(t, Config{PoolSize: 1, WindowBytes: 1 << 30})
	p := loadTest(t, h, "capture-bench", benchCaps, Limits{})
	batch := make([]Record, 100)
	for i := range 3000 {
		for k := range batch {
			batch[k] = Record{ID: [16]byte{byte(i >> 8), byte(i), byte(k)}, Received: time.Unix(1, 0), Payload: payloads[(i*100+k)%len(payloads)]}
		}
		if _, err := p.CallRecords(context.Background(), "capture", batch); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if mem, made := p.Status().MaxMemoryBytes, p.instantiations.Load(); mem > 24<<20 || made != 1 {
		t.Errorf("after 3,000 calls: %d bytes of linear memory at most, %d instances made; want under 24 MiB and 1", mem, made)
	}
}
