//go:build linux && amd64 && cgo

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCEmulator builds the C ABI as a c-archive, links the C "emulator"
// of fixtures/capi against it, and runs it: a real pthread blocked in
// FUTEX_WAIT on a guest futex word must be woken with FUTEX_OWNER_DIED
// when the C program reports the owner's death.
func TestCEmulator(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libfexrl.a")
	build := exec.Command("go", "build", "-buildmode=c-archive", "-o", lib, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=c-archive: %v\n%s", err, out)
	}
	for _, f := range []string{"libfexrl.a", "libfexrl.h"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the archive build made no %s: %v", f, err)
		}
	}
	hdr, err := os.ReadFile(filepath.Join(dir, "libfexrl.h"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OWNERSHIP.", "THREADING.", "struct fexrl_death", "fexrl_syscall(", "fexrl_task_exited("} {
		if !strings.Contains(string(hdr), want) {
			t.Errorf("libfexrl.h lacks %q", want)
		}
	}
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "fixtures", "capi", "emulator.c")
	bin := filepath.Join(dir, "emulator")
	cc := exec.Command("gcc", "-O2", "-Wall", "-I", dir, "-o", bin, src, lib, "-lpthread")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("the C emulator failed: %v\n%s", err, out)
	}
	for _, want := range []string{"waiter: futex_wait returned 0 (woken), word OWNER_DIED|WAITERS", "1 marked, 1 woken",
		"try-unlock: died after the release, the reused word is untouched", "ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
