//go:build linux && amd64

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/internal/testexec"
)

func TestRecordCommand(t *testing.T) {
	dir := t.TempDir()
	// The guest writes to fexrl's own standard output: keep it out of the
	// test log.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	realStdout := os.Stdout
	os.Stdout = devnull
	defer func() { os.Stdout = realStdout; devnull.Close() }()
	build := func(flag string) string {
		guest := filepath.Join(dir, "owner_thread_exit"+flag)
		if b, err := exec.Command("gcc", flag, "-O2", "-pthread", "-o", guest, "../../fixtures/guests/owner_thread_exit.c").CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s (scripts/setup installs gcc-multilib)", err, b)
		}
		return guest
	}
	for _, tc := range []struct {
		flag string
		want []string
	}{
		{"-m64", []string{"guest x86_64", "set_robust_list(", "owner-died", "check: replay matches the recorded outcome"}},
		{"-m32", []string{"guest x86_32", "i386 set_robust_list(", "owner-died", "check: replay matches the recorded outcome"}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			if tc.flag == "-m32" {
				testexec.RequireI386(t)
			}
			guest := build(tc.flag)
			out := filepath.Join(t.TempDir(), "t.trace")
			report := filepath.Join(t.TempDir(), "report.json")
			code, _, stderr := runCmd(t, "record", "-o", out, "--report", report, "--", guest)
			if code != 0 {
				t.Fatalf("record: exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "event(s) written to "+out) {
				t.Errorf("stderr: %s", stderr)
			}
			if _, err := os.Stat(report); err != nil {
				t.Errorf("run flags are not honoured: %v", err)
			}
			code, stdout, stderr := runCmd(t, "replay", "--check", out)
			if code != 0 {
				t.Fatalf("replay --check of a fresh recording: exit %d\n%s\n%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("replay lacks %q:\n%s", w, stdout)
				}
			}
		})
	}

	guest := build("-m64")
	out := filepath.Join(dir, "t.trace")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"record", "--", guest}, 2, "no trace file given"},
		{[]string{"record", "-o", out}, 2, "no program given"},
		{[]string{"record", "-o", out, "--mode", "fast", "--", guest}, 2, `unknown mode "fast"`},
		{[]string{"record", "-o", out, "--", "/nonexistent/guest"}, 127, "program not found"},
		{[]string{"record", "-o", filepath.Join(dir, "no", "such", "dir.trace"), "--", guest}, 1, "no such file"},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("fexrl %v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}
