//go:build linux && amd64

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fexrl/fexrl/fixtures"
	"github.com/fexrl/fexrl/internal/hostcap"
)

var patchedQemu = struct {
	once sync.Once
	dir  string
	err  error
}{}

// qemuDirForTest returns the patched QEMU's directory: $FEXRL_QEMU_DIR, or
// what scripts/qemu builds (cached by the hash of its inputs).
func qemuDirForTest(t testing.TB) string {
	t.Helper()
	patchedQemu.once.Do(func() {
		if d := os.Getenv("FEXRL_QEMU_DIR"); d != "" {
			patchedQemu.dir = d
			return
		}
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "qemu")
		cmd := exec.Command(script)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			patchedQemu.err = errors.New("scripts/qemu: " + err.Error() + "\n" + stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		patchedQemu.dir = lines[len(lines)-1]
	})
	if patchedQemu.err != nil {
		t.Fatal(patchedQemu.err)
	}
	return patchedQemu.dir
}

// viaQemu runs a guest through `fexrl qemu` and returns its transcript
// (QEMU dies of a guest's fatal signal by that signal, so the status is
// the guest's own).
func viaQemu(t *testing.T, ctx context.Context, qdir, guest string, flags ...string) (fixtures.Result, runReport) {
	t.Helper()
	return viaCommand(t, ctx, "qemu", append([]string{"--qemu-dir", qdir}, flags...), guest)
}

// TestQemuDifferential runs every fixture guest, in every build, inside
// the patched QEMU with fexrl, and compares it with the kernel: the
// native run where this host runs the build, else the kernel's recorded
// output (the golden file).
func TestQemuDifferential(t *testing.T) {
	qdir := qemuDirForTest(t)
	cache := cacheDir(t)
	fexrlBinary(t)
	i386 := hostcap.I386()
	for _, guest := range fixtures.Guests() {
		for _, variant := range fixtures.VariantNames() {
			t.Run(guest+"/"+variant, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 3*guestTimeout)
				defer cancel()
				bin, err := fixtures.Build(ctx, cache, guest, variant)
				if err != nil {
					t.Fatal(err)
				}
				want, err := fixtures.Expected(guest)
				if err != nil {
					t.Fatal(err)
				}
				oracle := "the kernel's recorded output"
				if !strings.HasPrefix(variant, "i386") || i386 == nil {
					native, err := fixtures.RunNative(ctx, bin, guestTimeout)
					if err != nil {
						t.Fatal(err)
					}
					if got := native.Transcript(); got != want {
						t.Fatalf("the kernel no longer gives the golden output:\n%s", diff(want, got))
					}
					oracle = "the native run"
				}
				if better, ok, err := fixtures.ExpectedFexrl(guest); err != nil {
					t.Fatal(err)
				} else if ok && strings.HasPrefix(guest, "bug_") {
					// A kernel bug fexrl fixes. (robust_unlock_api's
					// .fexrl.expected is fexrl run's emulation of an API this
					// host kernel lacks; under QEMU the guest's futex call
					// goes to the host, as natively: the kernel's output.)
					want = better
				}
				if q, ok, err := fixtures.ExpectedQemu(guest); err != nil {
					t.Fatal(err)
				} else if ok {
					want = q
				}
				rctx, rcancel := context.WithTimeout(ctx, guestTimeout)
				defer rcancel()
				got, _ := viaQemu(t, rctx, qdir, bin)
				if got.TimedOut {
					t.Fatalf("hung under fexrl qemu:\n%s\nstderr:\n%s", got.Transcript(), got.Stderr)
				}
				if got.Transcript() != want {
					if why, ok := qemuDefects[guest+"/"+variant]; ok && got.Signal == syscall.SIGSEGV {
						// QEMU's own bug, not fexrl's: stock QEMU dies the same
						// way (TestStockQemuDefects).
						t.Logf("QEMU 7.2 defect: %s", why)
						return
					}
					t.Fatalf("fexrl qemu differs from %s:\n%s\nstderr:\n%s", oracle, diff(want, got.Transcript()), got.Stderr)
				}
			})
		}
	}
}

// qemuDefects are QEMU 7.2's own bugs a fixture can hit, by guest and
// variant, with what happens; TestStockQemuDefects shows stock QEMU does
// the same.
var qemuDefects = map[string]string{
	"owner_main_exit/x86_64-static":  "qemu-x86_64 dies of SIGSEGV when glibc cancels a thread sleeping in pause() (testdata/qemu_cancel.c)",
	"owner_main_exit/x86_64-dynamic": "qemu-x86_64 dies of SIGSEGV when glibc cancels a thread sleeping in pause() (testdata/qemu_cancel.c)",
}

// TestStockQemuDefects: the QEMU bugs of qemuDefects, under Debian's stock
// qemu-x86_64-static, without fexrl.
func TestStockQemuDefects(t *testing.T) {
	stock, err := exec.LookPath("qemu-x86_64-static")
	if err != nil {
		t.Fatalf("Debian's qemu-user-static is missing (scripts/setup installs it): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "qemu_cancel")
	if out, err := exec.Command("gcc", "-O2", "-pthread", "-o", bin, filepath.Join("testdata", "qemu_cancel.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin).CombinedOutput(); err != nil || string(out) != "joined cancelled\n" {
		t.Fatalf("natively: %v %q", err, out)
	}
	out, err := exec.Command(stock, bin).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "uncaught target signal 11") {
		t.Fatalf("stock QEMU no longer crashes on a cancelled pause() (%v, %q): drop qemuDefects", err, out)
	}
}

// TestStockQemuBaseline runs the guests whose owner dies holding a
// robust mutex under Debian's stock QEMU: it answers set_robust_list
// with ENOSYS, so their waiters hang (the fixtures' guard ends them).
// That is the baseline fexrl beats; the test fails if stock QEMU stops
// hanging (then the baseline claim in the README is wrong).
func TestStockQemuBaseline(t *testing.T) {
	stock, err := exec.LookPath("qemu-i386-static")
	if err != nil {
		t.Fatalf("Debian's qemu-user-static is missing (scripts/setup installs it): %v", err)
	}
	cache := cacheDir(t)
	for _, guest := range []string{"owner_thread_exit", "owner_process_exit"} {
		t.Run(guest, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*guestTimeout)
			defer cancel()
			bin, err := fixtures.Build(ctx, cache, guest, "i386-static")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := fixtures.Expected(guest)
			start := time.Now()
			res, err := fixtures.Run(ctx, stock, bin)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Transcript()
			if got == want {
				t.Fatalf("stock QEMU now recovers a dead owner's robust mutex: the baseline changed")
			}
			if !strings.Contains(got, "TIMEOUT:") {
				t.Fatalf("stock QEMU neither hung nor matched:\n%s", got)
			}
			t.Logf("baseline: stock %s hangs on %s (guard fired after %s)", filepath.Base(stock), guest, time.Since(start).Round(time.Second))
		})
	}
}

// TestQemuGuardOff: without the guard, a guest process SIGKILLed while
// it holds a shared robust mutex leaves its waiters hanging (the
// fixtures' hang guard ends them): the baseline the guard removes (with
// it, TestQemuDifferential shows the kernel's output).
func TestQemuGuardOff(t *testing.T) {
	qdir := qemuDirForTest(t)
	cache := cacheDir(t)
	for _, variant := range []string{"i386-static", "x86_64-static"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*guestTimeout)
			defer cancel()
			bin, err := fixtures.Build(ctx, cache, "owner_sigkill", variant)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := viaQemu(t, ctx, qdir, bin, "--guard", "off")
			if !strings.Contains(got.Transcript(), "TIMEOUT: waiter still blocked in pthread_mutex_lock") {
				t.Fatalf("without the guard the SIGKILLed owner's waiter did not hang:\n%s\nstderr:\n%s", got.Transcript(), got.Stderr)
			}
		})
	}
}

// TestQemuRecordReplay: `fexrl record --qemu` writes a trace of a guest
// inside QEMU with fexrl (the server's events, with the memory its walks
// read), the guest's output is the kernel's, and the trace replays to the
// recorded outcome (replay --check).
func TestQemuRecordReplay(t *testing.T) {
	qdir := qemuDirForTest(t)
	cache := cacheDir(t)
	for _, c := range []struct{ guest, variant string }{
		{"owner_process_exit", "i386-static"}, {"owner_crash", "i386-dynamic"}, {"owner_exec", "x86_64-static"},
		{"owner_exit_group", "x86_64-musl-static"},
	} {
		t.Run(c.guest+"/"+c.variant, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*guestTimeout)
			defer cancel()
			bin, err := fixtures.Build(ctx, cache, c.guest, c.variant)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := fixtures.Expected(c.guest)
			tr := filepath.Join(t.TempDir(), "trace.jsonl")
			res, err := fixtures.Run(ctx, fexrlBinary(t), "record", "--qemu", "--qemu-dir", qdir, "-o", tr, "--", bin)
			if err != nil {
				t.Fatal(err)
			}
			if res.Signal == 0 && res.ExitCode > 128 {
				res.ExitCode, res.Signal = -1, syscall.Signal(res.ExitCode-128)
			}
			if got := res.Transcript(); got != want {
				t.Fatalf("fexrl record --qemu differs from the kernel:\n%s\nstderr:\n%s", diff(want, got), res.Stderr)
			}
			rep, err := fixtures.Run(ctx, fexrlBinary(t), "replay", "--check", tr)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ExitCode != 0 || !strings.Contains(string(rep.Stdout), "check: replay matches the recorded outcome") {
				t.Fatalf("replay --check: exit %d\n%s\n%s", rep.ExitCode, rep.Stdout, rep.Stderr)
			}
		})
	}
}
