//go:build linux && amd64

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/fexrl/fexrl/fixtures"
	"github.com/fexrl/fexrl/internal/hostcap"
)

const demoSynopsis = "[--variant auto|NAME] [--qemu auto|PATH] [--qemu-timeout D] [--fexrl PATH]"

// runDemo builds the demo guest (a child process dies holding a shared
// robust mutex while its parent waits on it) as an i386 binary and runs
// it three ways: natively, where the kernel walks the guest's list; under
// qemu-i386, whose ENOSYS for set_robust_list leaves the parent hanging;
// and through fexrl run, which walks the list itself and says what it did.
func runDemo(e *env, args []string) int {
	fs := newFlags(e, "demo", demoSynopsis)
	variant := fs.String("variant", "auto", "fixture build to use: auto (i386-static, or x86_64-static on a host that cannot run i386 programs) or one of "+strings.Join(fixtures.VariantNames(), ", "))
	qemu := fs.String("qemu", "auto", "the QEMU linux-user binary for the baseline (auto: qemu-i386-static or qemu-x86_64-static, after the variant)")
	qemuWait := fs.Duration("qemu-timeout", 5*time.Second, "how long to let the guest hang under QEMU")
	fexrlPath := fs.String("fexrl", "", "the fexrl binary to run the guest through (default: this one)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "demo", err)
	}
	if err := noArgs(e, fs); err != nil {
		return exitCode(e, "demo", err)
	}
	var hostNote string
	if *variant == "auto" {
		*variant = "i386-static"
		if err := hostcap.I386(); err != nil {
			hostNote = fmt.Sprintf("(the x86-64 build: %v)\n\n", err)
			*variant = "x86_64-static"
		}
	}
	v, err := fixtures.LookupVariant(*variant)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl demo: %v\n", err)
		return 2
	}
	if *qemu == "auto" {
		*qemu = "qemu-x86_64-static"
		if v.Arch == "x86_32" {
			*qemu = "qemu-i386-static"
		}
	}
	ctx := context.Background()
	cache, err := fixtures.DefaultCacheDir()
	if err == nil {
		_ = os.MkdirAll(cache, 0o755)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl demo: %v\n", err)
		return 1
	}
	bin, err := fixtures.Build(ctx, cache, "demo_owner_died", *variant)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl demo: %v\n", err)
		return 1
	}
	self := *fexrlPath
	if self == "" {
		if self, err = os.Executable(); err != nil {
			fmt.Fprintf(e.stderr, "fexrl demo: %v\n", err)
			return 1
		}
	}
	w := e.stdout
	fmt.Fprintf(w, "The guest (fixtures/guests/demo_owner_died.c, %s build): a child process locks a\n"+
		"process-shared robust mutex and exits holding it while its parent waits on it.\n\n", *variant)
	fmt.Fprint(w, hostNote)

	ok := true
	fmt.Fprintln(w, "== 1. natively: the Linux kernel walks the guest's robust list")
	native, err := fixtures.RunNative(ctx, bin, 30*time.Second)
	ok = show(w, native, err, "") && ok

	fmt.Fprintf(w, "\n== 2. under %s: QEMU linux-user answers set_robust_list with ENOSYS\n", *qemu)
	if path, err := exec.LookPath(*qemu); err != nil {
		fmt.Fprintf(w, "(%s is not installed: run scripts/setup)\n", *qemu)
	} else {
		qctx, cancel := context.WithTimeout(ctx, *qemuWait)
		res, err := fixtures.Run(qctx, path, bin)
		cancel()
		if err == nil && res.TimedOut {
			fmt.Fprint(w, indent(string(res.Stdout)))
			fmt.Fprintf(w, "   ... HUNG: no one walked the dead child's robust list, so the parent waits forever.\n")
			fmt.Fprintf(w, "   (fexrl demo stopped it after %v)\n", *qemuWait)
		} else {
			show(w, res, err, "")
		}
	}

	fmt.Fprintln(w, "\n== 3. through fexrl run (emulated: fexrl walks the list, as on an arm64 host without kernel help)")
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	res, err := fixtures.Run(rctx, self, "run", "--explain", "--", bin)
	cancel()
	ok = show(w, res, err, string(res.Stderr)) && ok
	if ok && native.Transcript() == res.Transcript() {
		fmt.Fprintln(w, "\nfexrl run printed exactly what the kernel run printed, and ended the same way.")
		return 0
	}
	fmt.Fprintln(w, "\nthe fexrl run and the native run differ: this is a bug")
	return 1
}

// show prints one run's output and how it ended; it reports whether the
// run ended normally.
func show(w io.Writer, r fixtures.Result, err error, report string) bool {
	if err != nil {
		fmt.Fprintf(w, "   could not run: %v\n", err)
		return false
	}
	fmt.Fprint(w, indent(string(r.Stdout)))
	if report != "" {
		fmt.Fprintln(w, "   fexrl's report:")
		fmt.Fprint(w, indent(indent(report)))
	}
	switch {
	case r.TimedOut:
		fmt.Fprintln(w, "   HUNG (stopped)")
		return false
	case r.Signal != 0:
		fmt.Fprintf(w, "   killed by signal %d\n", r.Signal)
		return false
	}
	fmt.Fprintf(w, "   exit status %d\n", r.ExitCode)
	return r.ExitCode == 0
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n   ") + "\n"
}
