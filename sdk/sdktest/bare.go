package sdktest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	wasip1 "github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/hangar-dev/hangar/sdk/abi"
)

// Bare runs a module on the bare batch ABI: on plain wazero, with the imports a plugin may use
// implemented by the test as the host implements them (host/abifuncs.go, host/hostfuncs.go), so
// that the test sees the exact bytes the plugin writes, which the host only ever sees decoded.
// It implements the superset of what the SDKs import:
//
//   - of Extism's kernel (module "extism:host/env"): input_length, input_load_u8, input_load_u64,
//     alloc, free, length, length_unsafe, load_u8, load_u64, store_u8, store_u64, output_set and
//     error_set, over blocks of a memory of its own addressed by 64-bit offsets, as Extism's;
//   - of Hangar's (module "hangar"): input_read and output_write, log, kv_read and kv_write (by
//     pointers into the guest's memory), kv_get and kv_set (by Extism offsets), salt (Salt), and
//     leaks, which answers true for a string that holds "leak" or is "rec<record index>";
//   - WASI (wasi_snapshot_preview1), with no files, arguments or environment, if the module
//     imports it, as the host gives every plugin.
//
// Its fields hold what persists from call to call. A Bare is for one goroutine.
type Bare struct {
	KV          map[string][]byte // the plugin's key-value store
	Salt        []byte            // what salt returns
	Logs        []string          // the messages logged, in order
	LeakQueries []uint32          // the record index of each leaks call
}

// NewBare returns a Bare with an empty store and a fixed salt of 32 bytes.
func NewBare() *Bare {
	return &Bare{KV: map[string][]byte{}, Salt: bytes.Repeat([]byte{0xa5, 0x5a}, 16)}
}

// Call is what one call of an export made.
type Call struct {
	Out []byte // the output: output_write's bytes, or output_set's
	RC  uint32 // the export's return code
	Err string // error_set's message
}

// compiled caches the modules' machine code across the calls of a test binary.
var compiled = wazero.NewCompilationCache()

// Run calls export on a fresh instance of wasm with input (abi.AppendInput's bytes). The error
// says why the call failed: the module trapped, or returned a non-zero code (with error_set's
// message), or could not be instantiated, or has no such export.
func (b *Bare) Run(wasm []byte, export string, input []byte) (*Call, error) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compiled))
	defer r.Close(ctx)
	c := &Call{}
	k := &kernel{blocks: map[uint64][]byte{}, next: 1}
	if err := k.instantiate(ctx, r, input, c); err != nil {
		return c, err
	}
	if err := b.instantiate(ctx, r, input, c, k); err != nil {
		return c, err
	}
	mod, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return c, fmt.Errorf("compile: %w", err)
	}
	for _, f := range mod.ImportedFunctions() {
		if m, _, _ := f.Import(); m == wasip1.ModuleName {
			wasip1.MustInstantiate(ctx, r)
			break
		}
	}
	m, err := r.InstantiateModule(ctx, mod, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return c, fmt.Errorf("instantiate: %w", err)
	}
	fn := m.ExportedFunction(export)
	if fn == nil {
		return c, fmt.Errorf("no export %q", export)
	}
	res, err := fn.Call(ctx)
	if err != nil {
		return c, fmt.Errorf("call %s: %w", export, err)
	}
	c.RC = uint32(res[0])
	if c.RC != 0 {
		return c, fmt.Errorf("call %s: exit status %d: %s", export, c.RC, c.Err)
	}
	return c, nil
}

// Records runs export over records and returns the raw output, failing the test if the call
// fails.
func (b *Bare) Records(t testing.TB, wasm []byte, export string, records [][]byte) []byte {
	t.Helper()
	c, err := b.Run(wasm, export, abi.AppendInput(nil, records))
	if err != nil {
		t.Fatal(err)
	}
	return c.Out
}

// Imports lists the functions a module imports, as "module.name".
func Imports(t testing.TB, wasm []byte) []string {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compiled))
	defer r.Close(ctx)
	mod, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	var out []string
	for _, f := range mod.ImportedFunctions() {
		m, name, _ := f.Import()
		out = append(out, m+"."+name)
	}
	return out
}

// kernel is Extism's memory for one call: blocks by offset.
type kernel struct {
	blocks map[uint64][]byte
	next   uint64
	last   uint64 // the block found last, tried first
}

// block returns the block that holds off and off's index in it.
func (k *kernel) block(off uint64) ([]byte, uint64) {
	if b, ok := k.blocks[k.last]; ok && off >= k.last && off < k.last+uint64(len(b)) {
		return b, off - k.last
	}
	for start, b := range k.blocks {
		if off >= start && off < start+uint64(len(b)) {
			k.last = start
			return b, off - start
		}
	}
	panic(fmt.Sprintf("no Extism block at %d", off))
}

// bytes returns the whole block that starts at off (nil for offset 0).
func (k *kernel) bytes(off uint64) []byte {
	if off == 0 {
		return nil
	}
	b, ok := k.blocks[off]
	if !ok {
		panic(fmt.Sprintf("no Extism block starts at %d", off))
	}
	return b
}

// alloc makes a block of n bytes, apart from every other (even when n is 0).
func (k *kernel) alloc(n uint64) uint64 {
	off := k.next
	k.blocks[off] = make([]byte, n)
	k.next += n + 1
	return off
}

// put returns a new block holding v.
func (k *kernel) put(v []byte) uint64 {
	off := k.alloc(uint64(len(v)))
	copy(k.blocks[off], v)
	return off
}

func (k *kernel) instantiate(ctx context.Context, r wazero.Runtime, input []byte, c *Call) error {
	length := func(off uint64) uint64 {
		if b, ok := k.blocks[off]; ok {
			return uint64(len(b))
		}
		return 0
	}
	_, err := r.NewHostModuleBuilder("extism:host/env").
		NewFunctionBuilder().WithFunc(func() uint64 { return uint64(len(input)) }).Export("input_length").
		NewFunctionBuilder().WithFunc(func(i uint64) uint32 { return uint32(input[i]) }).Export("input_load_u8").
		NewFunctionBuilder().WithFunc(func(i uint64) uint64 { return binary.LittleEndian.Uint64(input[i : i+8]) }).Export("input_load_u64").
		NewFunctionBuilder().WithFunc(k.alloc).Export("alloc").
		NewFunctionBuilder().WithFunc(func(off uint64) { delete(k.blocks, off) }).Export("free").
		NewFunctionBuilder().WithFunc(length).Export("length").
		NewFunctionBuilder().WithFunc(length).Export("length_unsafe").
		NewFunctionBuilder().WithFunc(func(off uint64) uint32 { b, i := k.block(off); return uint32(b[i]) }).Export("load_u8").
		NewFunctionBuilder().WithFunc(func(off uint64) uint64 { b, i := k.block(off); return binary.LittleEndian.Uint64(b[i : i+8]) }).Export("load_u64").
		NewFunctionBuilder().WithFunc(func(off uint64, v uint32) { b, i := k.block(off); b[i] = byte(v) }).Export("store_u8").
		NewFunctionBuilder().WithFunc(func(off, v uint64) { b, i := k.block(off); binary.LittleEndian.PutUint64(b[i:i+8], v) }).Export("store_u64").
		NewFunctionBuilder().WithFunc(func(off, n uint64) { b, i := k.block(off); c.Out = bytes.Clone(b[i : i+n]) }).Export("output_set").
		NewFunctionBuilder().WithFunc(func(off uint64) { c.Err = string(k.bytes(off)) }).Export("error_set").
		Instantiate(ctx)
	return err
}

// guest returns n bytes of the calling module's memory at p.
func guest(m api.Module, p, n uint32) []byte {
	b, ok := m.Memory().Read(p, n)
	if !ok {
		panic("guest memory out of bounds")
	}
	return b
}

func (b *Bare) instantiate(ctx context.Context, r wazero.Runtime, input []byte, c *Call, k *kernel) error {
	_, err := r.NewHostModuleBuilder("hangar").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, dst, n uint32) {
		if int(n) != len(input) {
			panic("input_read of the wrong length")
		}
		copy(guest(m, dst, n), input)
	}).Export("input_read").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, src, n uint32) {
		c.Out = bytes.Clone(guest(m, src, n))
	}).Export("output_write").
		NewFunctionBuilder().WithFunc(func(level, off uint64) { b.Logs = append(b.Logs, string(k.bytes(off))) }).Export("log").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, key, keyLen, dst, capacity uint32) int32 {
		v, ok := b.KV[string(guest(m, key, keyLen))]
		if !ok {
			return -1
		}
		if len(v) <= int(capacity) {
			copy(guest(m, dst, uint32(len(v))), v)
		}
		return int32(len(v))
	}).Export("kv_read").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, key, keyLen, val, valLen uint32) {
		b.KV[string(guest(m, key, keyLen))] = bytes.Clone(guest(m, val, valLen))
	}).Export("kv_write").
		NewFunctionBuilder().WithFunc(func(key uint64) uint64 {
		v, ok := b.KV[string(k.bytes(key))]
		if !ok {
			return 0
		}
		return k.put(v)
	}).Export("kv_get").
		NewFunctionBuilder().WithFunc(func(key, val uint64) {
		b.KV[string(k.bytes(key))] = bytes.Clone(k.bytes(val))
	}).Export("kv_set").
		NewFunctionBuilder().WithFunc(func() uint64 { return k.put(b.Salt) }).Export("salt").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, rec, src, n, dst uint32) uint32 {
		q := guest(m, src, n)
		var bits []byte
		count := 0
		for len(q) > 0 {
			l, w := binary.Uvarint(q)
			if w <= 0 || uint64(len(q)-w) < l {
				panic("malformed leaks query")
			}
			s := string(q[w : w+int(l)])
			q = q[w+int(l):]
			if count%8 == 0 {
				bits = append(bits, 0)
			}
			if strings.Contains(s, "leak") || s == "rec"+strconv.Itoa(int(rec)) {
				bits[count/8] |= 1 << (count % 8)
			}
			count++
		}
		copy(guest(m, dst, uint32(len(bits))), bits)
		b.LeakQueries = append(b.LeakQueries, rec)
		return uint32(count)
	}).Export("leaks").
		Instantiate(ctx)
	return err
}
