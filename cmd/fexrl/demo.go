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

const demoSynopsis = "[--variant NAME] [--qemu auto|PATH] [--qemu-dir DIR] [--qemu-timeout D] [--fexrl PATH]"

// runDemo builds the demo guest (a child process dies holding a shared
// robust mutex while its parent waits on it) as an i386 binary and runs
// it four ways: natively, where the kernel walks the guest's list (on a
// host that runs no i386 code, the kernel's recorded output stands in);
// under stock qemu-i386, whose ENOSYS for set_robust_list leaves the
// parent hanging; inside the patched QEMU with fexrl (fexrl qemu); and
// through fexrl run, which walks the list itself and says what it did.
func runDemo(e *env, args []string) int {
	fs := newFlags(e, "demo", demoSynopsis)
	variant := fs.String("variant", "i386-static", "fixture build to use: one of "+strings.Join(fixtures.VariantNames(), ", "))
	qemu := fs.String("qemu", "auto", "the stock QEMU linux-user binary for the baseline (auto: qemu-i386-static or qemu-x86_64-static, after the variant)")
	qemuDirFlag := fs.String("qemu-dir", "", "the patched QEMU's directory (default as for fexrl qemu)")
	qemuWait := fs.Duration("qemu-timeout", 5*time.Second, "how long to let the guest hang under QEMU")
	fexrlPath := fs.String("fexrl", "", "the fexrl binary to run the guest through (default: this one)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "demo", err)
	}
	if err := noArgs(e, fs); err != nil {
		return exitCode(e, "demo", err)
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
	runsHere := v.Arch != "x86_32" || hostcap.I386() == nil

	ok := true
	var oracle string
	if runsHere {
		fmt.Fprintln(w, "== 1. natively: the Linux kernel walks the guest's robust list")
		native, err := fixtures.RunNative(ctx, bin, 30*time.Second)
		ok = show(w, native, err, "") && ok
		oracle = native.Transcript()
	} else {
		fmt.Fprintf(w, "== 1. natively: this host runs no i386 code (%v); the kernel's recorded output:\n", hostcap.I386())
		oracle, err = fixtures.Expected("demo_owner_died")
		if err != nil {
			fmt.Fprintf(e.stderr, "fexrl demo: %v\n", err)
			return 1
		}
		fmt.Fprint(w, indent(oracle))
	}

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

	fmt.Fprintln(w, "\n== 3. inside QEMU with fexrl (fexrl qemu: the patched qemu-i386, a fexrl server beside it)")
	qargs := []string{"qemu", "--explain"}
	if *qemuDirFlag != "" {
		qargs = append(qargs, "--qemu-dir", *qemuDirFlag)
	}
	qctx, qcancel := context.WithTimeout(ctx, 60*time.Second)
	qres, err := fixtures.Run(qctx, self, append(qargs, "--", bin)...)
	qcancel()
	ok = show(w, qres, err, string(qres.Stderr)) && ok
	same := qres.Transcript() == oracle

	if runsHere {
		fmt.Fprintln(w, "\n== 4. through fexrl run (ptrace: fexrl walks the list, as on an arm64 host without kernel help)")
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res, err := fixtures.Run(rctx, self, "run", "--explain", "--", bin)
		cancel()
		ok = show(w, res, err, string(res.Stderr)) && ok
		same = same && res.Transcript() == oracle
	} else {
		fmt.Fprintln(w, "\n== 4. through fexrl run: not on this host, which runs no i386 code")
	}
	if ok && same {
		fmt.Fprintln(w, "\nfexrl printed exactly what the kernel printed, and the guest ended the same way.")
		return 0
	}
	fmt.Fprintln(w, "\nfexrl and the kernel differ: this is a bug")
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
