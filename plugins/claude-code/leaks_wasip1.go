//go:build wasip1

package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func init() { leakSource = func(_ *record, ss []string) []bool { return pdk.Leaks(ss) } }
