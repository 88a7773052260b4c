package importer_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/qemu"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/strace"
)

// writerAt is an in-memory file, so the header gets rewritten.
type writerAt struct{ b []byte }

func (w *writerAt) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if int(off)+len(p) > len(w.b) {
		return 0, errors.New("write past the end")
	}
	return copy(w.b[off:], p), nil
}

// summarize imports log and describes each event on one line.
func summarize(t *testing.T, p importer.Parser, log string, opts importer.Options) ([]string, *importer.Result, trace.Header, error) {
	t.Helper()
	var w writerAt
	res, err := importer.Run(strings.NewReader(log), &w, p, opts)
	if err != nil {
		return nil, res, trace.Header{}, err
	}
	rd, err := trace.NewReader(bytes.NewReader(w.b))
	if err != nil {
		t.Fatalf("the import is not a trace: %v\n%s", err, w.b)
	}
	var out []string
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the import is not a valid trace: %v\n%s", err, w.b)
		}
		switch e.Kind {
		case trace.KindTask:
			out = append(out, fmt.Sprintf("task %d tgid %d parent %d %s flags %#x", e.TID, e.TGID, e.Parent, e.ABI, e.Flags))
		case trace.KindSyscall:
			s := fmt.Sprintf("sys %d %s %d %#x", e.TID, e.ABI, e.Nr, e.Args)
			if e.HasRet {
				s += fmt.Sprintf(" = %d", e.Ret)
			}
			if e.UnknownArgs != 0 {
				s += fmt.Sprintf(" unknown %06b", e.UnknownArgs)
			}
			out = append(out, s)
		case trace.KindExit:
			out = append(out, fmt.Sprintf("exit %d %s", e.TID, e.Cause))
		case trace.KindExec:
			out = append(out, fmt.Sprintf("exec %d %s", e.TID, e.ABI))
		}
	}
	return out, res, rd.Header(), nil
}

func TestStrace(t *testing.T) {
	tests := []struct {
		name     string
		log      string
		want     []string
		problems []int64 // lines
		notices  int64
	}{
		{
			name: "set_robust_list and exit, aligned returns",
			log: "100 set_robust_list(0x7f00001000, 24)   = 0\n" +
				"100 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f0000\n" +
				"100 exit_group(0)                     = ?\n" +
				"100 +++ exited with 0 +++\n",
			want: []string{"task 100 tgid 100 parent 0 x86_64 flags 0x0",
				"sys 100 x86_64 273 [0x7f00001000 0x18 0x0 0x0 0x0 0x0] = 0", "sys 100 x86_64 231 [0x0 0x0 0x0 0x0 0x0 0x0]", "exit 100 exit_group"},
		},
		{
			name: "32-bit process by its head size, errno names",
			log: "7 set_robust_list(0xf7eec5ec, 12) = -1 ENOSYS (Function not implemented)\n" +
				"7 futex(0xffb3d9ac, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 2147514970, NULL, FUTEX_BITSET_MATCH_ANY) = -1 EAGAIN (Resource temporarily unavailable)\n",
			want: []string{"task 7 tgid 7 parent 0 x86_32 flags 0x0", "sys 7 x86_32 311 [0xf7eec5ec 0xc 0x0 0x0 0x0 0x0] = -38",
				"sys 7 x86_32 240 [0xffb3d9ac 0x189 0x80007a5a 0x0 0x0 0xffffffff] = -11 unknown 010000"},
		},
		{
			name: "clone3 unfinished, child first, then resumed; thread exit",
			log: "200 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f, parent_tid=0x7f, exit_signal=0, stack=0x7e, stack_size=0x7fff80, tls=0x7f} <unfinished ...>\n" +
				"201 set_robust_list(0x7fa43aca49a0, 24 <unfinished ...>\n" +
				"200 <... clone3 resumed> => {parent_tid=[201]}, 88) = 201\n" +
				"201 <... set_robust_list resumed>)    = 0\n" +
				"201 exit(0)                           = ?\n" +
				"201 +++ exited with 0 +++\n" +
				"200 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---\n",
			want: []string{"task 200 tgid 200 parent 0 x86_64 flags 0x0", "task 201 tgid 200 parent 200 x86_64 flags 0x3d0f00",
				"sys 200 x86_64 435 [0x0 0x58 0x0 0x0 0x0 0x0] = 201 unknown 000001",
				"sys 201 x86_64 273 [0x7fa43aca49a0 0x18 0x0 0x0 0x0 0x0] = 0", "sys 201 x86_64 60 [0x0 0x0 0x0 0x0 0x0 0x0]", "exit 201 exit"},
			notices: 1,
		},
		{
			name: "a child that is gone before its clone returns",
			log: "600 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0} <unfinished ...>\n" +
				"601 exit(0)                           = ?\n" +
				"601 +++ exited with 0 +++\n" +
				"600 <... clone3 resumed> => {parent_tid=[0]}, 88) = 601\n" +
				"600 exit_group(0) = ?\n" +
				"600 +++ exited with 0 +++\n",
			want: []string{"task 600 tgid 600 parent 0 x86_64 flags 0x0", "task 601 tgid 600 parent 600 x86_64 flags 0x10100",
				"sys 601 x86_64 60 [0x0 0x0 0x0 0x0 0x0 0x0]", "exit 601 exit", "sys 600 x86_64 435 [0x0 0x58 0x0 0x0 0x0 0x0] = 601 unknown 000001",
				"sys 600 x86_64 231 [0x0 0x0 0x0 0x0 0x0 0x0]", "exit 600 exit_group"},
		},
		{
			name: "clone with named arguments in i386 order, fork, killed",
			log: "[pid 300] 12:00:01.000001 fstat64(3, {st_mode=S_IFREG|0644}) = 0\n" +
				"[pid 300] 12:00:01.000002 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0xf7c0) = 301 <0.000100>\n" +
				"[pid 301] 12:00:01.000003 fork() = 302\n" +
				"[pid 302] 12:00:01.000004 +++ killed by SIGKILL +++\n",
			want: []string{"task 300 tgid 300 parent 0 x86_32 flags 0x0",
				"sys 300 x86_32 120 [0x1200011 0x0 0x0 0x0 0xf7c0 0x0] = 301 unknown 001100", "task 301 tgid 301 parent 300 x86_32 flags 0x1200011",
				"sys 301 x86_32 2 [0x0 0x0 0x0 0x0 0x0 0x0] = 302", "task 302 tgid 302 parent 301 x86_32 flags 0x11", "exit 302 signal"},
		},
		{
			name: "execve and personality change",
			log: "400 execve(\"./a\", [\"./a\"], 0x7ffd /* 35 vars */) = 0\n" +
				"[ Process PID=400 runs in 32 bit mode. ]\n" +
				"400 get_robust_list(0, [0xf7000000], [12]) = 0\n",
			want: []string{"task 400 tgid 400 parent 0 x86_64 flags 0x0", "sys 400 x86_64 59 [0x0 0x0 0x7ffd 0x0 0x0 0x0] = 0 unknown 000011",
				"exec 400 x86_32", "sys 400 x86_32 312 [0x0 0x0 0x0 0x0 0x0 0x0] = 0 unknown 000110"},
			notices: 1,
		},
		{
			name: "unknown syscall number, strace messages, problems",
			log: "strace: Process 500 attached\n" +
				"500 syscall_0x1d9(0, 0x4, 0, 0) = -1 ENOSYS (Function not implemented)\n" +
				"500 this is not a syscall\n" +
				"500 read(3, \"abc\", 3\n" +
				"500 <... futex resumed>) = 0\n" +
				"500 set_robust_list(0x1000, 24) = banana\n" +
				"500 +++ vanished +++\n" +
				"500 +++ +++\n" +
				"500 <... resumed>)\n",
			want:     []string{"task 500 tgid 500 parent 0 x86_64 flags 0x0", "sys 500 x86_64 473 [0x0 0x4 0x0 0x0 0x0 0x0] = -38"},
			problems: []int64{3, 4, 5, 6, 7, 8, 9},
			notices:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res, _, err := summarize(t, strace.New(), tt.log, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var lines []int64
			for _, p := range res.Problems {
				lines = append(lines, p.Line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.problems) || res.ProblemCount != int64(len(tt.problems)) {
				t.Errorf("problems on lines %v (%d), want %v: %v", lines, res.ProblemCount, tt.problems, res.Problems)
			}
			if res.Notices != tt.notices {
				t.Errorf("%d notices, want %d", res.Notices, tt.notices)
			}
			// Every line is accounted for.
			if res.Lines != int64(strings.Count(tt.log, "\n")) {
				t.Errorf("%d lines read", res.Lines)
			}
		})
	}
}

func TestQEMU(t *testing.T) {
	tests := []struct {
		name     string
		log      string
		want     []string
		problems []int64
	}{
		{
			name: "qemu-i386: raw arguments, errno=, clone, exit_group without a return",
			log: "28275 set_robust_list(1065074924,12,1065347392,1065074816,1065345012,1073739688) = -1 errno=38 (Function not implemented)\n" +
				"28275 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x00000000,parent_tidptr=0x00000000,tls=0x00000000,child_tidptr=0x3f7bc0e8) = 28277\n" +
				"28277 futex(0x3ffff7dc,FUTEX_WAIT,-2147483144,NULL,0x3ffff7f0,1073739760) = -1 errno=4 (Interrupted system call)\n" +
				"--- SIGALRM {si_signo=SIGALRM, si_code=SI_KERNEL, si_pid=0, si_uid=0} ---\n" +
				"28277 exit_group(1)\n",
			want: []string{"task 28275 tgid 28275 parent 0 x86_32 flags 0x0",
				"sys 28275 x86_32 311 [0x3f7bc0ec 0xc 0x3f7fe940 0x3f7bc080 0x3f7fdff4 0x3ffff7a8] = -38",
				"sys 28275 x86_32 120 [0x1200011 0x0 0x0 0x0 0x3f7bc0e8 0x0] = 28277", "task 28277 tgid 28277 parent 28275 x86_32 flags 0x1200011",
				"sys 28277 x86_32 240 [0x3ffff7dc 0x0 0x800001f8 0x0 0x3ffff7f0 0x3ffff7f0] = -4", "sys 28277 x86_32 252 [0x1 0x0 0x0 0x0 0x0 0x0]", "exit 28277 exit_group"},
		},
		{
			name: "qemu-x86_64: unknown syscall by number, interleaved lines",
			log: "4743 set_robust_list(274920151328,24,274920091864,34,4294967295,0) = -1 errno=38 (Function not implemented)\n" +
				"4743 Unknown syscall 334\n" +
				"4743 Unknown syscall 473\n" +
				" = 04743 \n" +
				"clock_gettime(CLOCK_MONOTONIC,0x00000040028066c0) = 0 ({tv_sec = 11187,tv_nsec = 44202639})\n" +
				"4747 futex(0x0000004002a2f000,FUTEX_WAIT,-2147478903,NULL,0x0000004002a2f020,442327364743 )read(3,0x2806460,511) = 80\n" +
				"4743 brk(NULL) = 0x40005000\n",
			want: []string{"task 4743 tgid 4743 parent 0 x86_64 flags 0x0",
				"sys 4743 x86_64 273 [0x4002849920 0x18 0x400283b0d8 0x22 0xffffffff 0x0] = -38",
				"sys 4743 x86_64 473 [0x0 0x0 0x0 0x0 0x0 0x0]"},
			problems: []int64{4, 5, 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res, _, err := summarize(t, qemu.New(), tt.log, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var lines []int64
			for _, p := range res.Problems {
				lines = append(lines, p.Line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.problems) {
				t.Errorf("problems on lines %v, want %v: %v", lines, tt.problems, res.Problems)
			}
		})
	}
}

func TestStrictStopsAtTheFirstProblem(t *testing.T) {
	log := "1 set_robust_list(0x1000, 24) = 0\n1 garbage(\n1 exit_group(0) = ?\n"
	_, res, _, err := summarize(t, strace.New(), log, importer.Options{Strict: true})
	var le *trace.LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("error %v, want one on line 2", err)
	}
	if res.ProblemCount != 1 {
		t.Fatalf("%d problems", res.ProblemCount)
	}
}

func TestABIOptions(t *testing.T) {
	log := "1 futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 0\n"
	tests := []struct {
		opts importer.Options
		want string
	}{
		{importer.Options{}, "sys 1 x86_64 202"},
		{importer.Options{ABI: "x86_32"}, "sys 1 x86_32 240"},
		{importer.Options{DefaultABI: "x86_32"}, "sys 1 x86_32 240"},
	}
	for _, tt := range tests {
		got, res, h, err := summarize(t, strace.New(), log, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !strings.HasPrefix(got[1], tt.want) {
			t.Errorf("%+v: %v", tt.opts, got)
		}
		if len(h.ABIs) != 1 || !strings.Contains(tt.want, h.ABIs[0]) {
			t.Errorf("%+v: header ABIs %v", tt.opts, h.ABIs)
		}
		if tt.opts.ABI == "" && res.Defaulted == 0 {
			t.Errorf("%+v: no event counted as defaulted", tt.opts)
		}
	}
	if _, _, _, err := summarize(t, strace.New(), log, importer.Options{ABI: "mips"}); err == nil {
		t.Error("ABI mips accepted")
	}
}

// -update rewrites the imported traces in fixtures/traces from their
// logs (then run go test ./emulator-shim/trace -update for the golden
// replay output).
var update = flag.Bool("update", false, "re-import fixtures/traces/logs into fixtures/traces")

// TestFixtureLogs imports the logs under fixtures/traces/logs and
// compares with the traces made from them.
func TestFixtureLogs(t *testing.T) {
	logs, err := filepath.Glob("../../../fixtures/traces/logs/*")
	if err != nil || len(logs) < 2 {
		t.Fatalf("logs: %v %v", logs, err)
	}
	for _, path := range logs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ext := filepath.Ext(path)
			name := strings.TrimSuffix(filepath.Base(path), ext)
			var p importer.Parser
			switch ext {
			case ".strace":
				p = strace.New()
			case ".qemu":
				p = qemu.New()
			default:
				t.Fatalf("unknown log kind %q", ext)
			}
			in, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			want, err := os.ReadFile(filepath.Join("../../../fixtures/traces", name+".trace"))
			if err != nil {
				t.Fatal(err)
			}
			guest := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(name, "strace-"), "qemu-"), filepath.Ext(name))
			guest = guest[:strings.LastIndexByte(guest, '-')]
			var w writerAt
			if _, err := importer.Run(in, &w, p, importer.Options{Host: trace.Host{OS: "linux", Arch: "amd64"}, Command: []string{guest}}); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join("../../../fixtures/traces", name+".trace"), w.b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(w.b, want) {
				t.Errorf("importing %s no longer gives %s.trace (go test -update rewrites it)", path, name)
			}
		})
	}
}

func TestSplitAndParse(t *testing.T) {
	split := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"a, b", []string{"a", "b"}, false},
		{`"a, \"b", [1, 2], {x=1, y=(2, 3)}, /* 3, vars */ 4`, []string{`"a, \"b"`, "[1, 2]", "{x=1, y=(2, 3)}", "/* 3, vars */ 4"}, false},
		{"a)", nil, true},
		{"[a", nil, true},
		{`"abc`, nil, true},
		{"/* x", nil, true},
	}
	for _, tt := range split {
		got, err := importer.SplitArgs(tt.in, nil)
		if (err != nil) != tt.err || (!tt.err && fmt.Sprint(got) != fmt.Sprint(tt.want)) {
			t.Errorf("SplitArgs(%q) = %q, %v", tt.in, got, err)
		}
	}
	values := []struct {
		in    string
		v     uint64
		known bool
	}{
		{"NULL", 0, true}, {"42", 42, true}, {"-1", 1<<64 - 1, true}, {"0x1f", 31, true}, {"0644", 0o644, true},
		{"FUTEX_WAIT_PRIVATE", 128, true}, {"FUTEX_WAKE_BITSET|FUTEX_CLOCK_REALTIME", 266, true},
		{"CLONE_VM|CLONE_THREAD|SIGCHLD", 0x10111, true}, {"FUTEX_BITSET_MATCH_ANY", 0xffffffff, true},
		{"[24]", 0, false}, {`"str"`, 0, false}, {"{a=1}", 0, false}, {"CLONE_BOGUS", 0, false}, {"8192*1024", 0, false},
		{"0xzz", 0, false}, {"99999999999999999999999", 0, false},
	}
	for _, tt := range values {
		v, known := importer.ParseValue(tt.in)
		if v != tt.v || known != tt.known {
			t.Errorf("ParseValue(%q) = %#x, %v; want %#x, %v", tt.in, v, known, tt.v, tt.known)
		}
	}
	if a := importer.ParseArg("flags=CLONE_VM"); a.Name != "flags" || a.Value != 0x100 || !a.Known {
		t.Errorf("ParseArg: %+v", a)
	}
	for name, want := range map[string]int64{"ENOSYS": 38, "EFAULT": 14, "ERESTARTSYS": 512} {
		if v, ok := importer.ErrnoValue(name); !ok || v != want {
			t.Errorf("ErrnoValue(%s) = %d, %v", name, v, ok)
		}
	}
	if _, ok := importer.ErrnoValue("ENOTANERRNO"); ok {
		t.Error("unknown errno accepted")
	}
}
