//go:build linux && amd64

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fexrl/fexrl/internal/testexec"
)

// cc compiles testdata/src with gcc and flags into dir.
func cc(t *testing.T, dir, src string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, strings.TrimSuffix(src, ".c")+strings.Join(flags, ""))
	args := append(append([]string{"-O2", "-pthread", "-Wall", "-o", out}, flags...), filepath.Join("testdata", src))
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// TestUntracedWaiterWakes: a process that fexrl does not trace (it runs
// natively) waits on a robust mutex in a shared memory file; the guest,
// run through fexrl, locks it and exits holding it. fexrl marks the word
// and wakes the waiter through its own mapping of the same file.
func TestUntracedWaiterWakes(t *testing.T) {
	dir := t.TempDir()
	for _, flags := range [][]string{{"-m64"}, {"-m32"}} {
		t.Run(flags[0], func(t *testing.T) {
			if flags[0] == "-m32" {
				testexec.RequireI386(t)
			}
			// Both sides use one libc's mutex layout: 32- and 64-bit glibc
			// lay pthread_mutex_t out differently.
			waiter := cc(t, dir, "shm_waiter.c", flags...)
			owner := cc(t, dir, "shm_owner.c", flags...)
			shm := filepath.Join("/dev/shm", "fexrl-test-"+filepath.Base(t.TempDir()))
			defer os.Remove(shm)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			w := exec.CommandContext(ctx, waiter, shm)
			out, err := w.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			if line, _ := r.ReadString('\n'); line != "waiter: ready\n" {
				t.Fatalf("waiter said %q", line)
			}
			rep := filepath.Join(t.TempDir(), "r.json")
			g, err := exec.CommandContext(ctx, fexrlBinary(t), "run", "--report", rep, "--", owner, shm).CombinedOutput()
			if err != nil {
				t.Fatalf("fexrl run: %v\n%s", err, g)
			}
			rest, _ := r.ReadString('\n')
			if err := w.Wait(); err != nil || rest != "waiter: lock -> EOWNERDEAD\n" {
				t.Fatalf("the untraced waiter: %v, %q (guest: %s)", err, rest, g)
			}
			var rr runReport
			b, _ := os.ReadFile(rep)
			if err := json.Unmarshal(b, &rr); err != nil || rr.OwnerDiedMarked != 1 || rr.Woken != 1 {
				t.Fatalf("report %+v (%v)", rr, err)
			}
		})
	}
}

// TestSignalsAndStatus: a guest killed by a signal makes fexrl exit
// 128+N, and a signal sent to fexrl reaches the guest.
func TestSignalsAndStatus(t *testing.T) {
	for _, flag := range []string{"-m64", "-m32"} {
		t.Run(flag, func(t *testing.T) {
			if flag == "-m32" {
				testexec.RequireI386(t)
			}
			signalsAndStatus(t, flag)
		})
	}
}

func signalsAndStatus(t *testing.T, flag string) {
	dir := t.TempDir()
	guest := cc(t, dir, "sig_guest.c", flag)
	fexrl := fexrlBinary(t)

	rep := filepath.Join(dir, "r.json")
	err := exec.Command(fexrl, "run", "--report", rep, "--", guest, "segv").Run()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGSEGV) {
		t.Fatalf("a guest dying by SIGSEGV: %v, want exit %d", err, 128+int(syscall.SIGSEGV))
	}
	var rr runReport
	if b, err := os.ReadFile(rep); err != nil || json.Unmarshal(b, &rr) != nil || rr.Signal != int(syscall.SIGSEGV) {
		t.Fatalf("report %s: %+v", rep, rr)
	}

	cmd := exec.Command(fexrl, "run", "--", guest, "wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, _ := r.ReadString('\n'); line != "guest: waiting for SIGTERM\n" {
		t.Fatalf("guest said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line, _ := r.ReadString('\n')
	if err := cmd.Wait(); err != nil || line != "guest: got SIGTERM\n" {
		t.Fatalf("SIGTERM to fexrl: %v, guest said %q", err, line)
	}

	// A guest that kills a child it stopped: the child leaves its
	// group-stop by dying, and fexrl must let it.
	if b, err := exec.Command(fexrl, "run", "--", guest, "stopkill").Output(); err != nil ||
		string(b) != "child stopped by signal 19\nchild killed by signal 9\n" {
		t.Fatalf("stopkill: %v, %q", err, b)
	}

	// A guest that ignores SIGTERM: the second one is sent as SIGKILL.
	cmd = exec.Command(fexrl, "run", "--", guest, "ignore")
	if out, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r = bufio.NewReader(out)
	if line, _ := r.ReadString('\n'); line != "guest: ignoring SIGTERM\n" {
		t.Fatalf("guest said %q", line)
	}
	for range 2 {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Wait(); !errorsAs(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGKILL) {
		t.Fatalf("SIGTERM twice to fexrl, guest ignoring it: %v, want exit %d", err, 128+int(syscall.SIGKILL))
	}

	if err := exec.Command(fexrl, "run", "--", filepath.Join(dir, "no-such-program")).Run(); !errorsAs(err, &ee) || ee.ExitCode() != 127 {
		t.Fatalf("a missing program: %v, want exit 127", err)
	}
	// A directory, or a file without execute permission: there, but not
	// runnable, 126 as a shell says.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, plain} {
		if err := exec.Command(fexrl, "run", "--", p).Run(); !errorsAs(err, &ee) || ee.ExitCode() != 126 {
			t.Fatalf("fexrl run %s: %v, want exit 126", p, err)
		}
	}
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}
