//go:build linux

package server_test

import (
	"os"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/server"
)

func TestMain(m *testing.M) {
	// The guard tests start the emulator through this binary.
	server.RunGuardLauncherIfRequested()
	os.Exit(m.Run())
}
