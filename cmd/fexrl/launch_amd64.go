//go:build linux && amd64

package main

import "github.com/fexrl/fexrl/emulator-shim/adapter"

// maybeLaunch turns this process into a guest when fexrl run started it
// as the adapter's launcher.
func maybeLaunch() { adapter.RunLauncherIfRequested() }
