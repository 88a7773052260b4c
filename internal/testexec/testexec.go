// Package testexec re-executes the running test binary as a child process,
// also when the tests run under a user-mode emulator: go test -exec
// qemu-aarch64-static starts the binary through qemu, but a child exec'd
// from inside would be handed to the host kernel, which cannot run it.
// scripts/test sets FEXRL_EXEC_WRAPPER to the emulator for such runs, and
// Self puts it in front of the command line.
package testexec

import (
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
