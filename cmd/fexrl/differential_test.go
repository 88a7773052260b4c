//go:build linux && amd64

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fexrl/fexrl/fixtures"
	"github.com/fexrl/fexrl/internal/hostcap"
	"github.com/fexrl/fexrl/internal/testexec"
	"github.com/fexrl/fexrl/robustlist2"
)

// The differential suite: every fixture guest, in every build, runs
// natively (the kernel walks its robust lists) and through `fexrl run` in
// emulated mode (fexrl walks them, as on an arm64 host without kernel
// support). Both must print the same thing and end the same way.

const guestTimeout = 90 * time.Second

var fexrlBin = struct {
	once sync.Once
	path string
	err  error
}{}

// fexrlBinary builds the fexrl command once per test binary.
func fexrlBinary(t testing.TB) string {
	t.Helper()
	path, err := buildFexrl()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func buildFexrl() (string, error) {
	fexrlBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "fexrl-bin")
		if err != nil {
			fexrlBin.err = err
			return
		}
		fexrlBin.path = filepath.Join(dir, "fexrl")
		out, err := exec.Command("go", "build", "-o", fexrlBin.path, ".").CombinedOutput()
		if err != nil {
			fexrlBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return fexrlBin.path, fexrlBin.err
}

func cacheDir(t *testing.T) string {
	t.Helper()
	d, err := fixtures.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// viaFexrl runs a guest through `fexrl run` and returns its transcript
// in the fixtures' format: fexrl reports a guest killed by signal N as
// exit 128+N, as a shell does, which the transcript turns back into the
// signal only when the guest really was killed (fexrl's report says so).
func viaFexrl(t *testing.T, ctx context.Context, guest string, flags ...string) (fixtures.Result, runReport) {
	t.Helper()
	return viaCommand(t, ctx, "run", flags, guest)
}

// viaCommand runs guest through `fexrl CMD --report R FLAGS -- guest`.
func viaCommand(t *testing.T, ctx context.Context, cmd string, flags []string, guest string) (fixtures.Result, runReport) {
	t.Helper()
	rep := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{cmd, "--report", rep}, flags...)
	args = append(args, "--", guest)
	res, err := fixtures.Run(ctx, fexrlBinary(t), args...)
	if err != nil {
		t.Fatalf("fexrl %s: %v", cmd, err)
	}
	var r runReport
	if b, err := os.ReadFile(rep); err == nil {
		if err := jsonUnmarshal(b, &r); err != nil {
			t.Fatalf("report: %v\n%s", err, b)
		}
	}
	if r.Signal != 0 && res.ExitCode == 128+r.Signal {
		res.ExitCode, res.Signal = -1, syscall.Signal(r.Signal)
	}
	return res, r
}

func TestDifferentialAgainstTheKernel(t *testing.T) {
	cache := cacheDir(t)
	fexrlBinary(t)
	for _, guest := range fixtures.Guests() {
		for _, variant := range fixtures.VariantNames() {
			t.Run(guest+"/"+variant, func(t *testing.T) {
				if strings.HasPrefix(variant, "i386") {
					testexec.RequireI386(t)
				}
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 3*guestTimeout)
				defer cancel()
				bin, err := fixtures.Build(ctx, cache, guest, variant)
				if err != nil {
					t.Fatal(err)
				}
				native, err := fixtures.RunNative(ctx, bin, guestTimeout)
				if err != nil {
					t.Fatal(err)
				}
				if native.TimedOut {
					t.Fatalf("the native run hung:\n%s", native.Transcript())
				}
				want, err := fixtures.Expected(guest)
				if err != nil {
					t.Fatal(err)
				}
				if got := native.Transcript(); got != want {
					t.Fatalf("the kernel no longer gives the golden output:\n%s", diff(want, got))
				}
				rctx, rcancel := context.WithTimeout(ctx, guestTimeout)
				defer rcancel()
				emu, rep := viaFexrl(t, rctx, bin)
				if emu.TimedOut {
					t.Fatalf("hung under fexrl run:\n%s\nstderr:\n%s", emu.Transcript(), emu.Stderr)
				}
				if better, ok, err := fixtures.ExpectedFexrl(guest); err != nil {
					t.Fatal(err)
				} else if ok {
					// A kernel bug fexrl fixes, or an API fexrl gives guests
					// on a host without it: the kernel gives the golden
					// output (checked above), fexrl its own.
					if got := emu.Transcript(); got != better {
						t.Fatalf("fexrl does not fix what it should:\n%s\nstderr:\n%s", diff(better, got), emu.Stderr)
					}
					if strings.HasPrefix(guest, "bug_unlock") {
						if rep.UnlockWindows == 0 {
							t.Errorf("the report shows no death inside an unlock: %+v", rep)
						}
						// The kernel's rule, on request, gives the kernel's result.
						kctx, kcancel := context.WithTimeout(ctx, guestTimeout)
						defer kcancel()
						kern, _ := viaFexrl(t, kctx, bin, "--kernel-unlock-rule")
						if kern.Transcript() != native.Transcript() {
							t.Errorf("--kernel-unlock-rule differs from the kernel:\n%s", diff(native.Transcript(), kern.Transcript()))
						}
					}
					if guest == "robust_unlock_api" && !hostHasRobustUnlock(t) {
						// Handed to this host kernel, which lacks the flags,
						// the guest's robust unlocks fail as they do natively.
						hctx, hcancel := context.WithTimeout(ctx, guestTimeout)
						defer hcancel()
						host, _ := viaFexrl(t, hctx, bin, "--robust-unlock", "host")
						if host.Transcript() != native.Transcript() {
							t.Errorf("--robust-unlock host differs from the kernel:\n%s", diff(native.Transcript(), host.Transcript()))
						}
					}
				} else if got := emu.Transcript(); got != native.Transcript() {
					t.Fatalf("fexrl differs from the kernel:\n%s\nstderr:\n%s", diff(native.Transcript(), got), emu.Stderr)
				}
				if rep.Mode != "emulated" {
					t.Fatalf("report: mode %q", rep.Mode)
				}
			})
		}
	}
}

// hostHasRobustUnlock says whether this host kernel has
// FUTEX_ROBUST_UNLOCK itself.
func hostHasRobustUnlock(t *testing.T) bool {
	t.Helper()
	return robustlist2.ProbeHost(nil).RobustUnlock
}

// diff shows two transcripts line by line, marking the differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		mark := "  "
		if wl != gl {
			mark = "! "
		}
		fmt.Fprintf(&b, "%skernel: %s\n%s fexrl: %s\n", mark, wl, mark, gl)
	}
	return b.String()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// runReport is the part of fexrl run's --report the tests read.
type runReport struct {
	Mode            string `json:"mode"`
	ExitCode        int    `json:"exit_code"`
	Signal          int    `json:"signal"`
	Tasks           int    `json:"tasks"`
	ListsRegistered int64  `json:"lists_registered"`
	Walks           int64  `json:"walks"`
	EntriesWalked   int64  `json:"entries_walked"`
	OwnerDiedMarked int64  `json:"owner_died_marked"`
	Woken           int64  `json:"woken"`
	LimitHits       int64  `json:"limit_hits"`
	UnlockWindows   int64  `json:"unlock_windows"`
}

// TestDemo runs the README's demo: the kernel recovers the mutex, QEMU
// hangs, fexrl recovers it and says so.
func TestDemo(t *testing.T) {
	var out, errb strings.Builder
	code := run(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb},
		[]string{"demo", "--qemu-timeout", "3s", "--fexrl", fexrlBinary(t), "--qemu-dir", qemuDirForTest(t)})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"== 1. natively", "== 2. under qemu-", "HUNG: no one walked the dead child's robust list",
		"== 3. inside QEMU with fexrl", "fexrl (qemu):", "pthread_mutex_lock -> EOWNERDEAD", "owner-died, TID", "woke 1 waiter(s)",
		"fexrl printed exactly what the kernel printed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	want := 3 // the kernel, fexrl qemu, fexrl run; not stock QEMU
	if hostcap.I386() != nil {
		want = 2 // the kernel's recorded output, fexrl qemu
	}
	if n := strings.Count(out.String(), "-> EOWNERDEAD"); n != want {
		t.Errorf("EOWNERDEAD %d times, want %d (the kernel and fexrl, never stock QEMU)", n, want)
	}
}
