// Command fexrl runs x86 and x86-64 guest programs with robust futexes
// handled the way an emulator on an arm64 host must handle them, and shows
// what it did.
//
// Usage:
//
//	fexrl <command> [flags] [arguments]
//
// Run "fexrl help" for the list of commands and "fexrl <command> -h" for
// the flags of one.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// command is one subcommand of fexrl.
type command struct {
	name    string
	summary string
	run     func(env *env, args []string) int
}

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() []command {
	return []command{
		{"abi", "print the architecture tables (syscall numbers, registers, robust-list head layout)", runABI},
		{"demo", "show a robust mutex recovered natively, hanging under qemu-i386, and recovered by fexrl", runDemo},
		{"run", "run a guest program with fexrl handling its robust futexes", runRun},
		{"probe", "report which robust-list syscalls the host kernel offers", runProbe},
		{"record", "run a guest program like run, and write a trace of it", runRecord},
		{"replay", "replay a trace through fexrl and print what it does", runReplay},
		{"import", "turn strace or qemu -strace output into a trace", runImport},
		{"qemu", "run a guest program under the patched QEMU linux-user with a fexrl server", runQemu},
		{"serve", "serve an emulated process tree's fexrl clients (the server beside the emulator)", runServe},
		{"status", "show a running server's tasks, their lists and the robust mutexes they hold now", runStatus},
	}
}

func main() {
	maybeLaunch()
	os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:]))
}

// run dispatches args to a subcommand and returns the exit status.
func run(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "fexrl: unknown command %q\n\n", name)
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: fexrl <command> [flags] [arguments]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"fexrl <command> -h\" for a command's flags.\n")
}

// errUsage marks a flag or argument error: the command exits 2.
var errUsage = errors.New("usage")

// exitCode maps a command error to an exit status.
func exitCode(e *env, name string, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	fmt.Fprintf(e.stderr, "fexrl %s: %v\n", name, err)
	return 1
}
