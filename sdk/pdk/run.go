package pdk

import (
	"fmt"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// process runs the handler of an export over one batch and returns the output bytes.
func process(export string, input []byte) ([]byte, error) {
	h := handlers[export]
	if h == nil {
		return nil, fmt.Errorf("plugin has no %s handler", export)
	}
	var results []abi.Result
	if _, err := abi.DecodeInput(input, func(_ int, rec []byte) error {
		evs, err := safeCall(h, Record{JSON: rec})
		if err != nil {
			results = append(results, abi.Result{Err: err.Error()})
		} else {
			results = append(results, abi.Result{Events: evs})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return abi.AppendOutput(nil, results)
}

// safeCall turns a handler's panic into that record's error.
func safeCall(h Handler, rec Record) (evs []sdk.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return h(rec)
}
