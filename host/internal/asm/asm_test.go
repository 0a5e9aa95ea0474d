package asm

import (
	"bytes"
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

func TestLEB(t *testing.T) {
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"ULEB 0", ULEB(0), []byte{0}},
		{"ULEB 624485", ULEB(624485), []byte{0xe5, 0x8e, 0x26}},
		{"SLEB -1", SLEB(-1), []byte{0x7f}},
		{"SLEB 63", SLEB(63), []byte{0x3f}},
		{"SLEB 64", SLEB(64), []byte{0xc0, 0x00}},
		{"SLEB -123456", SLEB(-123456), []byte{0xc0, 0xbb, 0x78}},
		{"PadULEB 2 in 3", PadULEB(2, 3), []byte{0x82, 0x80, 0x00}},
		{"PadULEB 300 in 1", PadULEB(300, 1), []byte{0xac, 0x02}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got %x, want %x", tt.got, tt.want)
			}
		})
	}
}

// TestModule assembles a module that wazero runs: answer() returns 42.
func TestModule(t *testing.T) {
	wasm := Module(
		Section(1, Vec([]byte{0x60, 0, 1, 0x7f})),
		Section(3, Vec([]byte{0})),
		Section(7, Vec(Export("answer", 0, 0))),
		Section(10, Vec(Body(Vec(), I32(42), []byte{0x0b}))),
		Custom("note", []byte("kept")),
	)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("answer").Call(ctx)
	if err != nil || len(res) != 1 || res[0] != 42 {
		t.Fatalf("answer() = %v, %v; want 42", res, err)
	}
}
