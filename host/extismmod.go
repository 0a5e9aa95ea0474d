package host

import (
	"reflect"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
)

// Extism go-sdk v1.7.1 does not expose an instance's wazero module: Plugin.Module returns an
// *extism.Module whose only field is the api.Module, unexported. The host needs that module for
// what Extism does not offer: the guest's own linear memory (CurrentPlugin.Memory is Extism's
// kernel memory), for input_read and output_write, and the start function the host's
// instrumentation exports (wasmrewrite.StartExport). mainModule reads the field through its layout,
// which moduleLayoutOK checks once against the type, so that a change in Extism's struct turns
// into an error at load rather than a wrong read.

// moduleLayoutOK reports whether extism.Module is a struct of exactly one api.Module field.
var moduleLayoutOK = func() bool {
	t := reflect.TypeFor[extism.Module]()
	return t.Kind() == reflect.Struct && t.NumField() == 1 &&
		t.Field(0).Offset == 0 && t.Field(0).Type == reflect.TypeFor[api.Module]()
}()

// mainModule returns the wazero module of an Extism plugin instance, or nil if Extism's layout
// is not the one this host knows.
func mainModule(x *extism.Plugin) api.Module {
	if !moduleLayoutOK {
		return nil
	}
	return *(*api.Module)(unsafe.Pointer(x.Module()))
}
