// Package testexec re-executes the running test binary as a child process,
// also when the tests run under a user-mode emulator: go test -exec
// qemu-aarch64-static starts the binary through qemu, but a child exec'd
// from inside would be handed to the host kernel, which cannot run it.
// scripts/test sets FEXRL_EXEC_WRAPPER to the emulator for such runs, and
// Self puts it in front of the command line.
package testexec

import (
	"errors"
	"testing"

	"github.com/fexrl/fexrl/internal/hostcap"
	"os"
	"os/exec"
	"strings"
)

// WrapperEnv names the environment variable that holds the emulator
// command (for example "qemu-aarch64-static") the test binary runs under.
const WrapperEnv = "FEXRL_EXEC_WRAPPER"

// Self returns a command that runs the current test binary with args,
// through the wrapper if one is set.
func Self(args ...string) *exec.Cmd {
	argv := append(Wrapper(), os.Args[0])
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

// Wrapper returns the wrapper command line, or nil.
func Wrapper() []string {
	return strings.Fields(os.Getenv(WrapperEnv))
}

// RequireI386 skips t, saying why, when the host kernel cannot run 32-bit
// x86 programs (a machine without ia32 emulation), and fails it when that
// cannot be found out. Tests of i386 guests call it first: such a host
// cannot run them natively nor trace them, so there is nothing to check.
func RequireI386(t testing.TB) {
	t.Helper()
	if err := hostcap.I386(); err != nil {
		if errors.Is(err, hostcap.ErrNoI386) {
			t.Skipf("SKIP i386: %v", err)
		}
		t.Fatal(err)
	}
}
