// Package pdk is the Go SDK for Hangar plugins: it implements the Extism guest ABI and Hangar's
// batch ABI (package abi), so that a plugin is one function from a record to events.
//
// A capture plugin:
//
//	package main
//
//	import (
//		"github.com/hangar-dev/hangar/sdk"
//		"github.com/hangar-dev/hangar/sdk/pdk"
//	)
//
//	func init() { pdk.HandleCapture(capture) }
//
//	func capture(rec pdk.Record) ([]sdk.Event, error) {
//		return []sdk.Event{{Kind: "hook." + rec.Get("hook_event_name").String()}}, nil
//	}
//
//	func main() {}
//
// built with the standard Go toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// The record holds only the fields the plugin's manifest asked for and the user granted; the
// values of read:payload fields that are not metadata by type are replaced by abi.Withheld
// (Withheld reports them), content: fields are shown as they are. The host
// fills in each event's id, platform and (if zero) time, and checks everything a plugin emits.
package pdk
