package sdk

import (
	"encoding/binary"
	"testing"
)

// TestCapturedID pins the ids of captured events: stored events keep them, so a record captured
// again must yield them unchanged (the store deduplicates by id).
func TestCapturedID(t *testing.T) {
	rec := NewID("hook", []byte("a record"))
	tests := []struct {
		name string
		i    int
		want ID
	}{
		{"first", 0, NewID("record", []byte("claude-code"), rec[:], []byte{0, 0})},
		{"two bytes", 0x1234, NewID("record", []byte("claude-code"), rec[:], []byte{0x12, 0x34})},
		{"past two bytes", 1 << 16, NewID("record", []byte("claude-code"), rec[:], binary.BigEndian.AppendUint64(nil, 1<<16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CapturedID("claude-code", rec, tt.i); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if CapturedID("claude-code", rec, 0) == CapturedID("other", rec, 0) {
		t.Error("two platforms give a record's event the same id")
	}
}
