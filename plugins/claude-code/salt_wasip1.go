//go:build wasip1

package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func init() { saltSource = pdk.Salt }
