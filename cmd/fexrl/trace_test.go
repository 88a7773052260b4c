package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/trace"
)

// TestMain lets the test binary serve as the adapter's launcher, so that
// fexrl run and fexrl record can be tested in process.
func TestMain(m *testing.M) {
	maybeLaunch()
	os.Exit(m.Run())
}

const tracesDir = "../../fixtures/traces"

func TestReplayCommand(t *testing.T) {
	fixture := filepath.Join(tracesDir, "owner_thread_exit-i386.trace")
	golden := func(ext string) string {
		b, err := os.ReadFile(filepath.Join(tracesDir, "owner_thread_exit-i386.replay."+ext))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, when set
		stderr string // substring
	}{
		{"text", []string{"replay", fixture, "--check"}, 0, golden("txt"), ""},
		{"json, flags first", []string{"replay", "--json", "--check", fixture}, 0, golden("jsonl"), ""},
		{"differences", []string{"replay", "--check", filepath.Join(tracesDir, "qemu-get_robust_list_other-i386.trace")}, 1, "", "difference(s) from the recorded outcome"},
		{"differences without --check", []string{"replay", filepath.Join(tracesDir, "qemu-get_robust_list_other-i386.trace")}, 0, "", ""},
		{"no file", []string{"replay"}, 2, "", "no trace given"},
		{"two files", []string{"replay", fixture, fixture}, 2, "", "unexpected argument"},
		{"bad flag", []string{"replay", "--bogus", fixture}, 2, "", "flag provided but not defined"},
		{"missing file", []string{"replay", "/nonexistent/x.trace"}, 1, "", "no such file"},
		{"not a trace", []string{"replay", filepath.Join(tracesDir, "logs", "strace-owner_thread_exit-x86_64.strace")}, 1, "", ":1: header:"},
		{"after --", []string{"replay", "--check", "--", fixture}, 0, golden("txt"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout differs from the golden file")
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
		})
	}
}

func TestReplayStdin(t *testing.T) {
	tr, err := os.ReadFile(filepath.Join(tracesDir, "robust2_probe-x86_64.trace"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(tracesDir, "robust2_probe-x86_64.replay.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := run(&env{stdin: strings.NewReader(string(tr)), stdout: &out, stderr: &errb}, []string{"replay", "--json", "--check", "-"})
	if code != 0 || out.String() != string(want) {
		t.Fatalf("exit %d, stderr %q; output differs from the golden file:\n%s", code, errb.String(), out.String())
	}
	// A header alone is a trace with no event.
	out.Reset()
	code = run(&env{stdin: strings.NewReader(strings.SplitAfter(string(tr), "\n")[0]), stdout: &out, stderr: &errb}, []string{"replay", "-"})
	if code != 0 || !strings.Contains(out.String(), "end: 0 event(s)") {
		t.Fatalf("header only: exit %d\n%s", code, out.String())
	}
}

func TestReplayMalformed(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(tracesDir, "owner_thread_exit-x86_64.trace"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	tests := []struct {
		name, content, want string
	}{
		{"truncated", strings.Join(lines[:4], "") + lines[4][:len(lines[4])/2], ":5: column"},
		{"unknown event", strings.Join(lines[:3], "") + `{"ev":"warp","tid":1}` + "\n", `:4: "ev": unknown event "warp"`},
		{"huge number", strings.Join(lines[:2], "") + `{"ev":"task","tid":99999999999999999999999,"tgid":1}` + "\n", ":3: column"},
		{"wrong type", strings.Join(lines[:2], "") + `{"ev":"task","tid":"1","tgid":1}` + "\n", "found a string where an integer was expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.trace")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd(t, "replay", path)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			if !strings.Contains(stdout, "line 2: tid") {
				t.Errorf("the events before the bad line were not printed:\n%s", stdout)
			}
		})
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	strace := filepath.Join(tracesDir, "logs", "strace-owner_thread_exit-x86_64.strace")
	qemu := filepath.Join(tracesDir, "logs", "qemu-get_robust_list_other-i386.qemu")
	bad := filepath.Join(dir, "bad.log")
	if err := os.WriteFile(bad, []byte("1 set_robust_list(0x1000, 24) = 0\nhello there\n1 exit_group(0) = ?\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
		source string // of the trace written, "" for none
		abi    string
	}{
		{"strace, detected", []string{"import", strace, "-o", filepath.Join(dir, "s.trace")}, 0,
			[]string{"(strace):", "0 line(s) skipped as unparseable", "guest ABI(s) [x86_64]"}, "strace", "x86_64"},
		{"qemu, detected", []string{"import", "-o", filepath.Join(dir, "q.trace"), qemu}, 0,
			[]string{"(qemu):", ": a return value without its call", "line(s) skipped as unparseable", "guest ABI(s) [x86_32]"}, "qemu", "x86_32"},
		{"qemu, named", []string{"import", "--format", "qemu", "--host-arch", "arm64", qemu, "-o", filepath.Join(dir, "q2.trace")}, 0, []string{"(qemu):"}, "qemu", "x86_32"},
		{"forced ABI", []string{"import", "--abi", "x86_32", strace, "-o", filepath.Join(dir, "s32.trace")}, 0, []string{"guest ABI(s) [x86_32]"}, "strace", "x86_32"},
		{"problems reported and skipped", []string{"import", "--format", "strace", bad, "-o", filepath.Join(dir, "b.trace")}, 0,
			[]string{"bad.log:2: not a syscall", "1 line(s) skipped"}, "strace", "x86_64"},
		{"strict", []string{"import", "--strict", "--format", "strace", bad, "-o", filepath.Join(dir, "strict.trace")}, 1,
			[]string{"bad.log:2:", "(--strict); no trace written"}, "", ""},
		{"no -o", []string{"import", strace}, 2, []string{"no trace file given"}, "", ""},
		{"no log", []string{"import", "-o", filepath.Join(dir, "x.trace")}, 2, []string{"no log given"}, "", ""},
		{"bad format", []string{"import", "--format", "ltrace", strace, "-o", filepath.Join(dir, "x.trace")}, 2, []string{`unknown format "ltrace"`}, "", ""},
		{"bad abi", []string{"import", "--abi", "mips", strace, "-o", filepath.Join(dir, "x.trace")}, 2, []string{`unknown ABI "mips"`}, "", ""},
		{"missing log", []string{"import", "/nonexistent.log", "-o", filepath.Join(dir, "x.trace")}, 1, []string{"no such file"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, stderr)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			out := ""
			for i, a := range tt.args {
				if a == "-o" {
					out = tt.args[i+1]
				}
			}
			f, err := os.Open(out)
			if tt.source == "" {
				if err == nil {
					f.Close()
					t.Fatalf("%s was written", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rd, err := trace.NewReader(bufio.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			if h := rd.Header(); h.Source != tt.source || strings.Join(h.ABIs, ",") != tt.abi {
				t.Errorf("header %+v", h)
			}
			code, stdout, stderr := runCmd(t, "replay", out)
			if code != 0 || !strings.Contains(stdout, "set_robust_list(") {
				t.Errorf("replay of the import: exit %d\n%s\n%s", code, stdout, stderr)
			}
		})
	}
}

func TestTraceCommandsListed(t *testing.T) {
	code, out, _ := runCmd(t, "help")
	for _, c := range []string{"record", "replay", "import"} {
		if code != 0 || !strings.Contains(out, "  "+c+" ") {
			t.Errorf("help lacks %s:\n%s", c, out)
		}
	}
}
