//go:build linux && amd64

package record

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/qemu"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/strace"
	"github.com/fexrl/fexrl/internal/hostcap"
	"github.com/fexrl/fexrl/internal/testexec"
)

// -record regenerates the traces under fixtures/traces from the fixture
// guests (then run go test ./emulator-shim/trace -update for the golden
// replay output).
var recordFixtures = flag.Bool("record", false, "re-record the trace fixtures in fixtures/traces")

func TestMain(m *testing.M) {
	adapter.RunLauncherIfRequested()
	os.Exit(m.Run())
}

const fixturesDir = "../../../fixtures"

// buildGuest compiles fixtures/guests/NAME.c as a glibc binary for bits.
func buildGuest(t *testing.T, dir, name string, bits int) string {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("%s-%d", name, bits))
	args := []string{"-O2", "-pthread", "-Wall", "-Wextra", "-Werror", "-o", out, filepath.Join(fixturesDir, "guests", name+".c")}
	if bits == 32 {
		args = append([]string{"-m32"}, args...)
	}
	cmd := exec.Command("gcc", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s (scripts/setup installs gcc-multilib)", args, err, b)
	}
	return out
}

// buildMuslGuest compiles fixtures/guests/NAME.c as a static x86-64 musl
// binary, or skips t without musl-gcc.
func buildMuslGuest(t *testing.T, dir, name string) string {
	t.Helper()
	if _, err := exec.LookPath("musl-gcc"); err != nil {
		t.Skip("SKIP musl: no musl-gcc (scripts/setup installs musl-tools)")
	}
	out := filepath.Join(dir, name+"-musl")
	args := []string{"-static", "-O2", "-pthread", "-Wall", "-Wextra", "-Werror", "-o", out, filepath.Join(fixturesDir, "guests", name+".c")}
	if b, err := exec.Command("musl-gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("musl-gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// record runs argv through the adapter and returns the trace.
func record(t *testing.T, argv []string, h trace.Header, robust2 bool) []byte {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "t.trace"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h.ABIs = GuessABIs(argv[0])
	h.Config.Mode, h.Config.RobustList2 = "emulated", robust2
	rec, err := New(f, h)
	if err != nil {
		t.Fatal(err)
	}
	var opts adapter.Options
	opts.Shim.NoRobustList2 = !robust2
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	opts.Stdout, opts.Stderr = devnull, devnull
	rec.Options(&opts)
	res, err := adapter.Run(context.Background(), argv, opts)
	if err != nil {
		t.Fatalf("run %v: %v", argv, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%v exited %d", argv, res.ExitCode)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replay replays tr with --check and returns the text output and the
// number of differences.
func replay(t *testing.T, tr []byte) (string, int64) {
	t.Helper()
	rd, err := trace.NewReader(bytes.NewReader(tr))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	end, err := trace.Replay(rd, trace.NewTextSink(&out, true), trace.ReplayOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), end.Diffs
}

// TestRecordReplays records real guests, 32- and 64-bit, and replays the
// traces: replay must reach what fexrl did live, word for word.
func TestRecordReplays(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		guest   string
		bits    int
		abi     string
		want    []string
		robust2 bool
		musl    bool
	}{
		{"owner_thread_exit", 32, trace.ABIx86_32, []string{"i386 set_robust_list(", ": owner-died 0x8", "8 marked OWNER_DIED"}, false, false},
		{"owner_thread_exit", 64, trace.ABIx86_64, []string{"set_robust_list(", ": owner-died 0x8", "-> 0xc0000000, wake:", "8 marked OWNER_DIED"}, false, false},
		{"owner_exec", 64, trace.ABIx86_64, []string{"execve(", ": exec, tgid", ": owner-died"}, false, false},
		{"robust2_probe", 64, trace.ABIx86_64, []string{"set_robust_list2(0, 4, 0, 0) = 8"}, true, false},
		// Deaths by exit_group and by SIGKILL: exits with registers. The
		// musl thread dies inside its unlock, whose store that clears
		// list_op_pending goes through %r15: replay takes the live
		// decision only from the exit's "gpr".
		{"owner_exit_group", 64, trace.ABIx86_64, []string{": exit (exit_group)", ": owner-died 0x8"}, false, false},
		{"bug_unlock_race", 64, trace.ABIx86_64, []string{": exit (signal)", ": unlock-window-wake-only", "1 unlock window(s)"}, false, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s-%d", tt.guest, tt.bits)
		if tt.musl {
			name += "-musl"
		}
		t.Run(name, func(t *testing.T) {
			if tt.bits == 32 {
				testexec.RequireI386(t)
			}
			var bin string
			if tt.musl {
				bin = buildMuslGuest(t, dir, tt.guest)
			} else {
				bin = buildGuest(t, dir, tt.guest, tt.bits)
			}
			tr := record(t, []string{bin}, trace.Header{Command: []string{tt.guest}}, tt.robust2)
			rd, err := trace.NewReader(bytes.NewReader(tr))
			if err != nil {
				t.Fatal(err)
			}
			if h := rd.Header(); strings.Join(h.ABIs, ",") != tt.abi || h.Source != "record" || h.Host.Arch != "amd64" {
				t.Errorf("header %+v", h)
			}
			out, diffs := replay(t, tr)
			if diffs != 0 {
				t.Fatalf("%d differences between the recording and its replay:\n%s", diffs, out)
			}
			checkExitRegs(t, tr)
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("replay lacks %q:\n%s", w, out)
				}
				rest = rest[i:]
			}
			// The exit syscall the adapter lets run again after injecting
			// wakes is not recorded twice.
			lines := strings.Split(string(tr), "\n")
			for i := 1; i < len(lines); i++ {
				if strings.HasPrefix(lines[i], `{"ev":"exit"`) && i+1 < len(lines) {
					var tid int
					if _, err := fmt.Sscanf(lines[i], `{"ev":"exit","tid":%d`, &tid); err == nil &&
						strings.HasPrefix(lines[i+1], fmt.Sprintf(`{"ev":"syscall","tid":%d,`, tid)) && strings.Contains(lines[i+1], `"nr":1,`) {
						t.Errorf("line %d: exit syscall recorded after the exit:\n%s\n%s", i+2, lines[i], lines[i+1])
					}
				}
			}
		})
	}
}

// checkExitRegs checks that every exit of tr with registers carries all
// of them ("gpr"), agreeing with its ip and sp.
func checkExitRegs(t *testing.T, tr []byte) {
	t.Helper()
	rd, err := trace.NewReader(bytes.NewReader(tr))
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != trace.KindExit || !e.HasRegs {
			continue
		}
		if r := e.Regs; !r.HasGPR || r.GPR.RIP != r.IP || r.GPR.RSP != r.SP || r.GPR.RSP == 0 {
			t.Errorf("line %d: exit of tid %d: regs %+v without all the registers", rd.Line(), e.TID, r)
		}
	}
}

// TestHeaderRewrite records a 32-bit guest with a wrong ABI guess: the
// header ends up naming the ABI seen.
func TestHeaderRewrite(t *testing.T) {
	// A 64-bit guest recorded under a header that guessed 32-bit.
	bin := buildGuest(t, t.TempDir(), "owner_thread_exit", 64)
	path := filepath.Join(t.TempDir(), "t.trace")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := New(f, trace.Header{ABIs: []string{trace.ABIx86_32}})
	if err != nil {
		t.Fatal(err)
	}
	opts := adapter.Options{}
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	opts.Stdout, opts.Stderr = devnull, devnull
	rec.Options(&opts)
	if _, err := adapter.Run(context.Background(), []string{bin}, opts); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(path)
	rd, err := trace.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rd.Header().ABIs, ","); got != trace.ABIx86_64 {
		t.Fatalf("header ABIs %q, want x86_64\n%s", got, b[:300])
	}
	for {
		if _, err := rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// fixture is one trace under fixtures/traces.
type fixture struct {
	name    string // file name without .trace
	guest   string
	bits    int
	robust2 bool
	// log is "strace" or "qemu" for an imported trace.
	log string
	// musl builds the guest with musl-gcc, static (x86-64 only).
	musl bool
}

func fixtureList() []fixture {
	return []fixture{
		{name: "owner_thread_exit-i386", guest: "owner_thread_exit", bits: 32},
		{name: "owner_thread_exit-x86_64", guest: "owner_thread_exit", bits: 64},
		{name: "owner_exit_group-i386", guest: "owner_exit_group", bits: 32},
		{name: "owner_exec-x86_64", guest: "owner_exec", bits: 64},
		{name: "rawlist_pending-x86_64", guest: "rawlist_pending", bits: 64},
		{name: "rawlist_stop-i386", guest: "rawlist_stop", bits: 32},
		{name: "robust_list_syscalls-i386", guest: "robust_list_syscalls", bits: 32},
		{name: "robust2_probe-x86_64", guest: "robust2_probe", bits: 64, robust2: true},
		{name: "bug_unlock_race-x86_64-musl", guest: "bug_unlock_race", bits: 64, musl: true},
		{name: "strace-owner_thread_exit-x86_64", guest: "owner_thread_exit", bits: 64, log: "strace"},
		{name: "qemu-get_robust_list_other-i386", guest: "get_robust_list_other", bits: 32, log: "qemu"},
	}
}

// TestRecordFixtures re-records fixtures/traces with -record.
func TestRecordFixtures(t *testing.T) {
	if !*recordFixtures {
		t.Log("fixtures kept; run with -record to re-record them")
		return
	}
	dir := t.TempDir()
	out := filepath.Join(fixturesDir, "traces")
	for _, fx := range fixtureList() {
		if fx.bits == 32 {
			if err := hostcap.I386(); err != nil {
				t.Logf("%s kept: %v", fx.name, err)
				continue
			}
		}
		var bin string
		if fx.musl {
			bin = buildMuslGuest(t, dir, fx.guest)
		} else {
			bin = buildGuest(t, dir, fx.guest, fx.bits)
		}
		// The command line names the guest, not the temporary binary.
		argv0 := fx.guest
		var tr []byte
		switch fx.log {
		case "":
			tr = record(t, []string{bin}, trace.Header{Command: []string{argv0}}, fx.robust2)
		default:
			tr = importLog(t, dir, bin, fx)
		}
		if err := os.WriteFile(filepath.Join(out, fx.name+".trace"), tr, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s", fx.name)
	}
}

// importLog runs the guest under strace or qemu and imports the log; the
// log is kept next to the trace.
func importLog(t *testing.T, dir, bin string, fx fixture) []byte {
	t.Helper()
	logPath := filepath.Join(fixturesDir, "traces", "logs", fx.name+"."+fx.log)
	var cmd *exec.Cmd
	var p importer.Parser
	switch fx.log {
	case "strace":
		cmd = exec.Command("strace", "-f", "-o", logPath, bin)
		p = strace.New()
	case "qemu":
		q := "qemu-x86_64-static"
		if fx.bits == 32 {
			q = "qemu-i386-static"
		}
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd = exec.Command(q, "-strace", bin)
		cmd.Stderr = f
		p = qemu.New()
	}
	_ = cmd.Run() // the guests fail under qemu: that is the point
	in, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, fx.name+".trace")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := importer.Run(in, f, p, importer.Options{Host: trace.Host{OS: "linux", Arch: "amd64"}, Command: []string{fx.guest}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
