package host

import (
	"context"
	"errors"
	"fmt"

	extism "github.com/extism/go-sdk"
)

// The batch ABI's own host functions, in the "hangar" module: input_read and output_write move a
// call's whole input and output in one copy each. Through Extism's kernel a guest moves them 8
// bytes per host call (input_load_u64, store_u64), which costs more than the plugin's own work on a
// batch of small records. They need no capability: every call has an input and an output. A guest
// may still use Extism's input and output instead; the host accepts both (docs/PLUGINS.md). The
// third, leaks (leaks.go), answers the leak check before an emission.

// abiFunctions returns the host functions of the batch ABI.
func (p *Plugin) abiFunctions() []extism.HostFunction {
	i32 := extism.ValueTypeI32
	fns := []extism.HostFunction{
		extism.NewHostFunctionWithStack("input_read", p.hostInputRead, []extism.ValueType{i32, i32}, nil),
		extism.NewHostFunctionWithStack("output_write", p.hostOutputWrite, []extism.ValueType{i32, i32}, nil),
		extism.NewHostFunctionWithStack("leaks", p.hostLeaks, []extism.ValueType{i32, i32, i32, i32}, []extism.ValueType{i32}),
	}
	for i := range fns {
		fns[i].SetNamespace("hangar")
	}
	return fns
}

// hostInputRead is input_read(dst, len): it copies the call's input, whose length Extism's
// input_length gives, into guest memory at dst. len must equal that length.
func (p *Plugin) hostInputRead(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	dst, n := uint32(stack[0]), uint32(stack[1])
	if int(n) != len(cs.input) {
		cs.fail(fmt.Errorf("input_read of %d bytes, the input has %d", n, len(cs.input)))
	}
	if !cs.mem.Write(dst, cs.input) {
		cs.fail(errors.New("input_read out of bounds"))
	}
}

// hostOutputWrite is output_write(src, len): it sets the call's output to len bytes of guest
// memory at src, replacing any output set before. Output beyond the plugin's limit fails the call.
func (p *Plugin) hostOutputWrite(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	src, n := uint32(stack[0]), uint32(stack[1])
	if int64(n) > p.lim.OutputBytes {
		cs.fail(fmt.Errorf("%w: %d bytes, limit %d", ErrOutputTooLarge, n, p.lim.OutputBytes))
	}
	b, ok := cs.mem.Read(src, n)
	if !ok {
		cs.fail(errors.New("output_write out of bounds"))
	}
	cs.output = append(cs.output[:0], b...) // Read returns a view of guest memory
	cs.outputSet = true
}
