//go:build linux && amd64

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fexrl/fexrl/fixtures"
)

// arm64Subset are the fixtures the arm64 end-to-end run proves, chosen by
// their time under two levels of emulation (each well under a second;
// the closing note of the arm64 issue has the table): owner death by
// thread exit, process exit, execve and exit_group, a PI robust mutex,
// the set_robust_list2 probe, and the hand-built lists. owner_crash is
// not among them: under qemu-aarch64 a guest that dies of SIGSEGV hangs
// in the outer QEMU, with or without fexrl.
var arm64Subset = []string{
	"owner_thread_exit", "owner_process_exit", "owner_exec", "owner_exit_group", "pi_robust",
	"robust2_probe", "rawlist_entries", "rawlist_pending", "rawlist_pi", "rawlist_stop", "rawlist_limits",
}

var arm64E2E = struct {
	once sync.Once
	dir  string
	err  error
}{}

// TestArm64EndToEnd runs x86 guests the way fexrl's target host does:
// an arm64 build of the patched QEMU, an arm64 fexrl server, both under
// qemu-aarch64-static (scripts/arm64-e2e), where the host's
// set_robust_list answers ENOSYS and set_robust_list2 does not exist. The
// guests must print the kernel's golden output.
func TestArm64EndToEnd(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "arm64-e2e")
	arm64E2E.once.Do(func() {
		// The first run builds the arm64 QEMU (cached) and fexrl.
		out, err := exec.Command(script, "--", "/bin/true").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "fexrl qemu:") {
			arm64E2E.err = fmt.Errorf("%v\n%s", err, out)
			return
		}
		dir, err := exec.Command(filepath.Join(filepath.Dir(script), "qemu"), "--arch", "arm64", "--print-dir").Output()
		if err != nil {
			arm64E2E.err = fmt.Errorf("scripts/qemu --arch arm64 --print-dir: %v", err)
			return
		}
		arm64E2E.dir = strings.TrimSpace(string(dir))
	})
	if arm64E2E.err != nil {
		t.Fatalf("scripts/arm64-e2e: %v", arm64E2E.err)
	}
	cache := cacheDir(t)
	for _, guest := range arm64Subset {
		for _, variant := range []string{"i386-static", "x86_64-static"} {
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
				start := time.Now()
				got, err := fixtures.Run(ctx, "env", "FEXRL_ARM64_QEMU_DIR="+arm64E2E.dir, script, "--", bin)
				if err != nil {
					t.Fatal(err)
				}
				if got.TimedOut {
					t.Fatalf("hung on the arm64 path:\n%s\nstderr:\n%s", got.Transcript(), got.Stderr)
				}
				if got.Transcript() != want {
					t.Fatalf("the arm64 path differs from the kernel:\n%s\nstderr:\n%s", diff(want, got.Transcript()), got.Stderr)
				}
				t.Logf("%s %s: %v under two levels of emulation", guest, variant, time.Since(start).Round(time.Millisecond))
			})
		}
	}
}
