package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

const testHeader = `{"format":"fexrl-trace","version":1,"abis":["x86_64"],"host":{"os":"linux","arch":"amd64"},"source":"test"}`

// readAll reads every event of a trace, returning the first error.
func readAll(t *testing.T, s string) ([]Event, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(s))
	if err != nil {
		return nil, err
	}
	var out []Event
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		c := *e
		c.Memory = append([]MemWord(nil), e.Memory...)
		c.Walks = nil
		for _, w := range e.Walks {
			if w.Report != nil {
				w.Report = w.Report.Clone()
			}
			c.Walks = append(c.Walks, w)
		}
		c.Waiters = append([]Waiter(nil), e.Waiters...)
		c.Code = append([]byte(nil), e.Code...)
		c.words = nil
		out = append(out, c)
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"empty", "", "line 1: empty trace"},
		{"not json", "hello", "line 1: header: column 1: found \"h\" where an object was expected"},
		{"other format", `{"format":"other","version":1}`, `not a fexrl trace: format "other"`},
		{"no format", `{"version":1}`, `has no "format"`},
		{"future version", `{"format":"fexrl-trace","version":2,"abis":["x86_64"],"host":{"os":"linux","arch":"amd64"},"source":"t"}`, "version 2 is not supported"},
		{"version string", `{"format":"fexrl-trace","version":"1"}`, "found a string where an integer was expected"},
		{"no abis", `{"format":"fexrl-trace","version":1,"host":{"os":"linux","arch":"amd64"},"source":"t"}`, `"abis": missing`},
		{"bad abi", `{"format":"fexrl-trace","version":1,"abis":["mips"],"host":{"os":"linux","arch":"amd64"},"source":"t"}`, `unknown guest ABI "mips"`},
		{"no host", `{"format":"fexrl-trace","version":1,"abis":["x86_32"],"source":"t"}`, `"host": missing`},
		{"host without arch", `{"format":"fexrl-trace","version":1,"abis":["x86_32"],"host":{"os":"linux"},"source":"t"}`, `needs "os" and "arch"`},
		{"no source", `{"format":"fexrl-trace","version":1,"abis":["x86_32"],"host":{"os":"linux","arch":"amd64"}}`, `"source": missing`},
		{"unknown member", `{"format":"fexrl-trace","version":1,"colour":"red"}`, `unknown member "colour" in the header`},
		{"bad mode", `{"format":"fexrl-trace","version":1,"abis":["x86_32"],"host":{"os":"linux","arch":"amd64"},"source":"t","config":{"mode":"fast"}}`, `unknown mode "fast"`},
		{"list limit", `{"format":"fexrl-trace","version":1,"abis":["x86_32"],"host":{"os":"linux","arch":"amd64"},"source":"t","config":{"list_limit":100000}}`, "out of range"},
		{"trailing", testHeader + ` x`, `unexpected "x" after the object`},
		{"truncated", testHeader[:40], "truncated line?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.header))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			var le *LineError
			if !errors.As(err, &le) && !strings.Contains(err.Error(), "not a fexrl trace") && !strings.Contains(err.Error(), "not supported") {
				if !strings.HasPrefix(err.Error(), "line 1") {
					t.Errorf("error %v does not name line 1", err)
				}
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{
		Version: Version, ABIs: []string{ABIx86_32, ABIx86_64}, Source: "record",
		Host:    Host{OS: "linux", Arch: "amd64", Kernel: "6.18 \"x\"\n\u00e9"},
		Command: []string{"./a b", "c\\d", ""},
		Config:  Config{Mode: "native", RobustList2: true, Unbounded: true, KernelUnlockRule: true, ListLimit: 12},
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteHeaderPadded(h, ABIReserve); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	got := rd.Header()
	if got.Version != h.Version || strings.Join(got.ABIs, ",") != "x86_32,x86_64" || got.Host != h.Host || got.Source != h.Source ||
		strings.Join(got.Command, "|") != strings.Join(h.Command, "|") || got.Config != h.Config {
		t.Fatalf("got %+v\nwant %+v", got, h)
	}
}

func TestEventErrors(t *testing.T) {
	mem := `"memory":[{"addr":4096,"size":8,"value":4096},{"addr":4104,"size":8,"value":0},{"addr":4112,"size":8,"value":0}]`
	tests := []struct {
		name, line, want string
	}{
		{"truncated", `{"ev":"syscall","tid":1,"abi":"x86_64","nr":273,"args":[1,2`, "line ends where"},
		{"truncated string", `{"ev":"sysc`, "string not terminated"},
		{"not an object", `[1,2]`, "where an object was expected"},
		{"empty line", ` `, "empty line"},
		{"unknown event", `{"ev":"teleport","tid":1}`, `unknown event "teleport"`},
		{"no ev", `{"tid":1}`, `without an "ev"`},
		{"unknown member", `{"ev":"task","tid":1,"tgid":1,"colour":1}`, `unknown member "colour"`},
		{"member of another kind", `{"ev":"task","tid":1,"tgid":1,"nr":3}`, `"nr" is not a member of a task event`},
		{"missing member", `{"ev":"syscall","tid":1,"abi":"x86_64","args":[0,0,0,0,0,0]}`, `syscall event without "nr"`},
		{"duplicate member", `{"ev":"task","tid":1,"tid":2,"tgid":1}`, `duplicate member "tid"`},
		{"tid string", `{"ev":"task","tid":"1","tgid":1}`, `found a string where an integer was expected`},
		{"tid zero", `{"ev":"task","tid":0,"tgid":1}`, "out of range"},
		{"tid huge", `{"ev":"task","tid":2147483648,"tgid":1}`, "out of range"},
		{"negative unsigned", `{"ev":"task","tid":1,"tgid":1,"flags":-1}`, "negative number -1"},
		{"number beyond 64 bits", `{"ev":"task","tid":1,"tgid":1,"flags":18446744073709551616}`, "out of range"},
		{"very long number", `{"ev":"task","tid":1,"tgid":1,"flags":` + strings.Repeat("9", 400) + `}`, "out of range"},
		{"fraction", `{"ev":"task","tid":1.5,"tgid":1}`, "not an integer"},
		{"exponent", `{"ev":"task","tid":1e3,"tgid":1}`, "not an integer"},
		{"leading zero", `{"ev":"task","tid":01,"tgid":1}`, "leading zero"},
		{"bool as number", `{"ev":"task","tid":true,"tgid":1}`, "a boolean where an integer"},
		{"null", `{"ev":"task","tid":null,"tgid":1}`, "null where an integer"},
		{"bad abi", `{"ev":"syscall","tid":1,"abi":"arm","nr":1,"args":[0,0,0,0,0,0]}`, `unknown guest ABI "arm"`},
		{"five args", `{"ev":"syscall","tid":1,"abi":"x86_64","nr":1,"args":[0,0,0,0,0]}`, "5 arguments (want six)"},
		{"seven args", `{"ev":"syscall","tid":1,"abi":"x86_64","nr":1,"args":[0,0,0,0,0,0,0]}`, "more than six"},
		{"bad code", `{"ev":"syscall","tid":1,"abi":"x86_64","nr":1,"args":[0,0,0,0,0,0],"code":"0f0"}`, "odd number of hex digits"},
		{"unknown arg index", `{"ev":"syscall","tid":1,"abi":"x86_64","nr":1,"args":[0,0,0,0,0,0],"unknown_args":[6]}`, "out of range"},
		{"bad cause", `{"ev":"exit","tid":1,"cause":"boredom"}`, `unknown cause "boredom"`},
		{"bad escape", `{"ev":"exit","tid":1,"cause":"\q"}`, `bad escape`},
		{"control char", "{\"ev\":\"exit\",\"tid\":1,\"cause\":\"a\x01\"}", "control character"},
		{"bad utf8", "{\"ev\":\"exit\",\"tid\":1,\"cause\":\"\xff\"}", "invalid UTF-8"},
		{"regs mode", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":16,"ip":1}}`, "mode 16"},
		{"regs without ip", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":64}}`, `needs "mode" and "ip"`},
		{"word size", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":0,"size":2,"value":0}]}`, "word size 2"},
		{"word value too big", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":0,"size":4,"value":4294967296}]}`, "does not fit in 4 bytes"},
		{"word past the end", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":18446744073709551612,"size":8,"value":0}]}`, "runs past the end"},
		{"words disagree", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":0,"size":8,"value":0},{"addr":4,"size":4,"value":1}]}`, "disagree"},
		{"word without value", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":0,"size":4}]}`, `needs "addr", "size" and "value"`},
		{"waiters without memory", `{"ev":"exit","tid":1,"cause":"exit","waiters":[{"addr":0,"n":1}]}`, `"waiters" without "memory"`},
		{"walk without memory", `{"ev":"exit","tid":1,"cause":"exit","walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0}]}`, "without the \"memory\""},
		{"head outside memory", `{"ev":"exit","tid":1,"cause":"exit","memory":[],"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0}]}`, "head 0x1000 is outside the recorded memory"},
		{"word outside memory", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":1,"entries":[{"node":8192,"word":8192,"action":"owner-died","old":1,"new":1073741824}]}]}`, "futex word 0x2000 is outside the recorded memory"},
		{"word value differs", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":4096,"size":8,"value":8192},{"addr":4104,"size":8,"value":0},{"addr":4112,"size":8,"value":0},{"addr":8192,"size":4,"value":7}],"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":1,"entries":[{"node":8192,"word":8192,"action":"owner-died","old":1,"new":1073741824}]}]}`, "was 0x1, but the recorded memory holds 0x7"},
		{"bad stop", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"whenever","visited":0}]}`, `unknown stop reason "whenever"`},
		{"bad action", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":1,"entries":[{"node":1,"word":1,"action":"dance"}]}]}`, `unknown action "dance"`},
		{"bad bits", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":16,"backend":"fexrl-walk","stop":"end","visited":0}]}`, "16 (want 32 or 64)"},
		{"bad index", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":99,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0}]}`, "out of range"},
		{"walked twice", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0},{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0}]}`, "walked twice"},
		{"host walk with report", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"host-native","stop":"end"}]}`, `has no "stop"`},
		{"walk without stop", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","visited":0}]}`, `needs "stop"`},
		{"woken without wake", `{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":4096,"size":8,"value":8192},{"addr":4104,"size":8,"value":0},{"addr":4112,"size":8,"value":0},{"addr":8192,"size":4,"value":1}],"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":1,"entries":[{"node":8192,"word":8192,"action":"owner-died","old":1,"new":1073741824,"woken":3}]}]}`, "3 woken without a wake"},
		{"entries beyond visited", `{"ev":"exit","tid":1,"cause":"exit",` + mem + `,"walks":[{"index":0,"head":4096,"bits":64,"backend":"fexrl-walk","stop":"end","visited":0,"entries":[{"node":1,"word":1,"action":"fault"},{"node":1,"word":1,"action":"fault"}]}]}`, "2 entries for 0 visited"},
		{"own parent", `{"ev":"task","tid":5,"tgid":5,"parent":5}`, "its own parent"},
		{"exec cause", `{"ev":"exec","tid":5,"cause":"exit"}`, `"cause" is not a member of a exec event`},
		{"nested garbage", `{"ev":"exit","tid":1,"cause":"exit","memory":[[[[`, "where an object was expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, testHeader+"\n"+`{"ev":"task","tid":1,"tgid":1}`+"\n"+tt.line+"\n")
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want a *LineError", err)
			}
			if le.Line != 3 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (line %d), want line 3 and %q", err, le.Line, tt.want)
			}
		})
	}
}

func TestErrorIsSticky(t *testing.T) {
	rd, err := NewReader(strings.NewReader(testHeader + "\n{\n" + `{"ev":"task","tid":1,"tgid":1}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := rd.Next()
	_, err2 := rd.Next()
	if err1 == nil || err2 != err1 {
		t.Fatalf("errors %v then %v; want the same error twice", err1, err2)
	}
}

func TestLongLine(t *testing.T) {
	long := `{"ev":"exit","tid":1,"cause":"exit","memory":[` + strings.Repeat(`{"addr":0,"size":4,"value":0},`, 40000) + `{"addr":0,"size":4,"value":0}]}`
	evs, err := readAll(t, testHeader+"\n"+long+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || len(evs[0].Memory) != 40001 {
		t.Fatalf("got %d events", len(evs))
	}
}

func TestCRLFAndMissingFinalNewline(t *testing.T) {
	evs, err := readAll(t, testHeader+"\r\n"+`{"ev":"task","tid":1,"tgid":1}`+"\r\n"+`{"ev":"task","tid":2,"tgid":1,"parent":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Parent != 1 {
		t.Fatalf("got %+v", evs)
	}
}

// sampleEvents covers every member of every kind.
func sampleEvents() []Event {
	rep := &robustlist2.Report{Head: 0x1000, Bits: 64, FutexOffset: -32, PendingNode: 0x2020, Stop: robustlist2.StopEnd,
		Visited: 2, Marked: 1, Woken: 1, WakeErrors: 1, Truncated: true, Entries: []robustlist2.Entry{
			{Node: 0x2020, Word: 0x2000, PI: true, Action: robustlist2.ActionSkipped},
			{Node: 0x2020, Word: 0x2000, Pending: true, Action: robustlist2.ActionMarked, Old: 5, New: 0x40000000, Wakes: 1, Woken: 1},
			{Node: 0x3020, Word: 0x3000, Action: robustlist2.ActionFault, Wakes: 1, Woken: -1},
		}}
	return []Event{
		{Kind: KindTask, TID: 1, TGID: 1, ABI: ABIx86_64},
		{Kind: KindTask, TID: 2, TGID: 1, Parent: 1, Flags: 0x3d0f00},
		{Kind: KindSyscall, TID: 2, ABI: ABIx86_32, Nr: 311, Args: [6]uint64{1, 12, 0, 0, 0, 1<<64 - 1}, Ret: -38, HasRet: true, Handled: true,
			Code: []byte{0xcd, 0x80}, SrcLine: 17, UnknownArgs: 0b100101},
		{Kind: KindSyscall, TID: 2, ABI: ABIx86_64, Nr: 1},
		{Kind: KindExit, TID: 2, TGID: 1, Cause: shim.CauseSignal, HasRegs: true, Regs: Regs{Mode: 64, IP: 0x401000, SP: 0x7ff0, TP: 0x9000,
			HasGPR: true, GPR: GPR{RAX: 1<<64 - 512, RBX: 7, RCX: 0x401000, RDX: 1, RSI: 2, RDI: 0x2004, RBP: 3, RSP: 0x7ff0,
				R8: 8, R9: 9, R10: 10, R11: 0x246, R12: 12, R13: 13, R14: 14, R15: 1<<64 - 1, RIP: 0x401000, EFLAGS: 0x10246}},
			HasMemory: true, Memory: []MemWord{{Addr: 0x1000, Size: 8, Value: 0x1000}, {Addr: 0x1008, Size: 8, Value: 1<<64 - 32}, {Addr: 0x1010, Size: 8, Value: 0x2020},
				{Addr: 0x2000, Size: 4, Value: 5}, {Addr: 0x3000, Size: 4, Value: 0, RO: true}},
			Waiters:  []Waiter{{Addr: 0x2000, N: 1}, {Addr: 0x3000, Fail: "no"}},
			HasWalks: true, Walks: []robustlist2.ListWalk{{Index: 0, Slot: robustlist2.Slot{Head: 0x1000, Bits: 64}, Report: rep},
				{Index: 2, Slot: robustlist2.Slot{Head: 0x5000, Bits: 32, Backend: robustlist2.BackendHostRobustList2, HostIndex: 3}}}},
		{Kind: KindExit, TID: 1, TGID: 1, Cause: shim.CauseExitGroup, SrcLine: 3},
		{Kind: KindExec, TID: 7, TGID: 7, Former: 8, ABI: ABIx86_32, HasMemory: true, HasWalks: true},
	}
}

func TestEventRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteHeader(Header{ABIs: []string{ABIx86_64}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	want := sampleEvents()
	for i := range want {
		if err := w.WriteEvent(&want[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	first := b.String()
	got, err := readAll(t, first)
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	// Writing what was read gives the same bytes.
	var b2 bytes.Buffer
	w2 := NewWriter(&b2)
	_ = w2.WriteHeader(Header{ABIs: []string{ABIx86_64}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "test"})
	for i := range got {
		if err := w2.WriteEvent(&got[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = w2.Flush()
	if b2.String() != first {
		t.Fatalf("round trip changed the trace:\n%s\n%s", first, b2.String())
	}
	if got[2].Args[5] != 1<<64-1 || got[2].Ret != -38 || got[2].UnknownArgs != 0b100101 || !bytes.Equal(got[2].Code, []byte{0xcd, 0x80}) {
		t.Errorf("syscall event: %+v", got[2])
	}
	if got[6].Former != 8 || got[5].Former != 0 {
		t.Errorf("exec former %d", got[6].Former)
	}
	if !got[4].HasRegs || !got[4].Regs.HasGPR || got[4].Regs != want[4].Regs {
		t.Errorf("exit regs %+v, want %+v", got[4].Regs, want[4].Regs)
	}
	r := got[4].Walks[0].Report
	if r == nil || r.FutexOffset != -32 || len(r.Entries) != 3 || r.Entries[2].Woken != -1 || got[4].Walks[1].Report != nil {
		t.Errorf("walks: %+v", got[4].Walks)
	}
}

func TestWriterRejects(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteEvent(&Event{Kind: KindTask, TID: 1, TGID: 1}); err == nil {
		t.Error("event before header accepted")
	}
	if err := w.WriteHeader(Header{ABIs: []string{"mips"}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "t"}); err == nil {
		t.Error("bad ABI accepted")
	}
	if err := w.WriteHeader(Header{ABIs: []string{ABIx86_32}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(Header{ABIs: []string{ABIx86_32}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "t"}); err == nil {
		t.Error("second header accepted")
	}
	for _, e := range []Event{
		{Kind: KindTask, TID: 0, TGID: 1},
		{Kind: KindTask, TID: 1},
		{Kind: KindSyscall, TID: 1},
		{Kind: KindExit, TID: 1, Cause: shim.CauseExec},
		{Kind: 99, TID: 1},
	} {
		if err := w.WriteEvent(&e); err == nil {
			t.Errorf("event %+v accepted", e)
		}
	}
}

// gprLine is an exit event whose regs carry the member gpr (gprObject).
func gprLine(mode int, ip, sp uint64, vals map[string]string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":%d,"ip":%d`, mode, ip)
	if sp != 0 {
		fmt.Fprintf(&b, `,"sp":%d`, sp)
	}
	return b.String() + `,"gpr":` + gprObject(ip, sp, vals, extra) + "}}"
}

// gprObject is a gpr member's value: every register with the value vals
// gives it ("-" leaves it out), or else 0, but for rsp and rip, which
// follow sp and ip; extra is appended inside.
func gprObject(ip, sp uint64, vals map[string]string, extra string) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, name := range gprNames {
		v, ok := vals[name]
		if !ok {
			switch name {
			case "rsp":
				v = strconv.FormatUint(sp, 10)
			case "rip":
				v = strconv.FormatUint(ip, 10)
			default:
				v = "0"
			}
		}
		if v == "-" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", name, v)
	}
	b.WriteString(extra)
	b.WriteByte('}')
	return b.String()
}

// TestRegsGPR reads the "gpr" member of an exit's "regs": good forms,
// and each kind of bad one as an error naming line 3 (and the column,
// for what the scanner finds at one place).
func TestRegsGPR(t *testing.T) {
	all := func(base uint64) map[string]string {
		m := map[string]string{}
		for i, name := range gprNames {
			m[name] = strconv.FormatUint(base+uint64(i), 10)
		}
		return m
	}
	t.Run("good", func(t *testing.T) {
		full := all(100)
		full["rip"], full["rsp"], full["eflags"] = "4198400", "32752", "4294967295"
		full["r15"] = "18446744073709551615"
		reordered := `{"ev":"exit","tid":1,"cause":"signal","regs":{ "gpr" : { "eflags":2, "r15":15, "r14":14, "r13":13, "r12":12, "r11":11, "r10":10, "r9":9, "r8":8, ` +
			`"rip":4096, "rsp":8192, "rbp":5, "rdi":6, "rsi":4, "rdx":3, "rcx":2, "rbx":1, "rax":0 }, "sp":8192, "ip":4096, "mode":64 }}`
		tests := []struct {
			name, line string
			want       Regs
		}{
			{"every register", gprLine(64, 4198400, 32752, full, ""), Regs{Mode: 64, IP: 4198400, SP: 32752, HasGPR: true, GPR: GPR{
				RAX: 100, RBX: 101, RCX: 102, RDX: 103, RSI: 104, RDI: 105, RBP: 106, RSP: 32752, R8: 108, R9: 109, R10: 110, R11: 111,
				R12: 112, R13: 113, R14: 114, R15: 1<<64 - 1, RIP: 4198400, EFLAGS: 1<<32 - 1}}},
			{"any order, blanks", reordered, Regs{Mode: 64, IP: 4096, SP: 8192, HasGPR: true, GPR: GPR{
				RBX: 1, RCX: 2, RDX: 3, RSI: 4, RBP: 5, RDI: 6, RSP: 8192, R8: 8, R9: 9, R10: 10, R11: 11, R12: 12, R13: 13, R14: 14, R15: 15, RIP: 4096, EFLAGS: 2}}},
			{"zero stack pointer, no sp", gprLine(64, 4096, 0, nil, ""), Regs{Mode: 64, IP: 4096, HasGPR: true, GPR: GPR{RIP: 4096}}},
			{"32-bit: ip is rip's low half", gprLine(32, 0xf7f01000, 0xffd00000, map[string]string{"rip": "8454672384"}, ""),
				Regs{Mode: 32, IP: 0xf7f01000, SP: 0xffd00000, HasGPR: true, GPR: GPR{RSP: 0xffd00000, RIP: 0x1f7f01000}}},
			{"no gpr: an old trace", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":64,"ip":4096,"sp":8192,"tp":12288}}`,
				Regs{Mode: 64, IP: 4096, SP: 8192, TP: 12288}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				evs, err := readAll(t, testHeader+"\n"+tt.line+"\n")
				if err != nil {
					t.Fatalf("%v\n%s", err, tt.line)
				}
				if got := evs[0].Regs; !evs[0].HasRegs || got != tt.want {
					t.Fatalf("regs %+v\nwant %+v", got, tt.want)
				}
				// The writer's form reads back the same, by both decoders.
				line, err := AppendEvent(nil, &evs[0])
				if err != nil {
					t.Fatal(err)
				}
				for _, noFast := range []bool{false, true} {
					d := newEventDecoder(Config{})
					d.noFast = noFast
					var e Event
					if err := d.decode(line, &e); err != nil || e.Regs != tt.want {
						t.Fatalf("no fast paths %v: %v, regs %+v\n%s", noFast, err, e.Regs, line)
					}
				}
			})
		}
	})

	// col marks where the error is: the column of the first occurrence
	// of at in the line; "" for an error about the whole member.
	tests := []struct {
		name, line, at, want string
	}{
		{"unknown register", gprLine(64, 1, 0, nil, `,"rxx":1`), `1}}}`, `unknown member "rxx" in "gpr"`},
		{"i386 name", gprLine(64, 1, 0, map[string]string{"rax": "-"}, `,"eax":1`), `1}}}`, `unknown member "eax" in "gpr"`},
		{"segment base", gprLine(64, 1, 0, nil, `,"fs_base":1`), `1}}}`, `unknown member "fs_base" in "gpr"`},
		{"upper case", gprLine(64, 1, 0, map[string]string{"rbx": "-"}, `,"RBX":1`), `1}}}`, `unknown member "RBX" in "gpr"`},
		{"duplicate register", gprLine(64, 1, 0, nil, `,"r9":0`), `0}}}`, `duplicate member "r9"`},
		{"string", gprLine(64, 1, 0, map[string]string{"rdi": `"1"`}, ""), `"1"`, "found a string where an integer was expected"},
		{"hex string", gprLine(64, 1, 0, map[string]string{"rdi": `"0x10"`}, ""), `"0x10"`, "found a string where an integer was expected"},
		{"boolean", gprLine(64, 1, 0, map[string]string{"rbx": "true"}, ""), `true`, "found a boolean where an integer was expected"},
		{"null", gprLine(64, 1, 0, map[string]string{"rbx": "null"}, ""), `null`, "found null where an integer was expected"},
		{"object", gprLine(64, 1, 0, map[string]string{"r8": "{}"}, ""), `{}`, "found an object where an integer was expected"},
		{"negative", gprLine(64, 1, 0, map[string]string{"r8": "-1"}, ""), `-1`, "negative number -1"},
		{"beyond 64 bits", gprLine(64, 1, 0, map[string]string{"r8": "18446744073709551616"}, ""), `18446744073709551616`, "out of range"},
		{"fraction", gprLine(64, 1, 0, map[string]string{"r8": "1.5"}, ""), `1.5`, "not an integer"},
		{"exponent", gprLine(64, 1, 0, map[string]string{"r8": "1e3"}, ""), `1e3`, "not an integer"},
		{"leading zero", gprLine(64, 1, 0, map[string]string{"r8": "01"}, ""), `01`, "leading zero"},
		{"eflags beyond 32 bits", gprLine(64, 1, 0, map[string]string{"eflags": "4294967296"}, ""), `4294967296`, "out of range (at most 4294967295)"},
		{"not an object", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":64,"ip":1,"gpr":[1,2]}}`, `[1,2]`, "found an array where an object was expected"},
		{"truncated", gprLine(64, 1, 0, nil, "")[:120], "", "truncated line?"},
		{"gpr twice", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":64,"ip":1,"gpr":` + gprObject(1, 0, nil, "") + `,"gpr":{}}}`, `{}}}`, `duplicate member "gpr"`},
		{"missing register", gprLine(64, 1, 0, map[string]string{"r13": "-"}, ""), "", `"regs": "gpr" without "r13"`},
		{"empty", `{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":64,"ip":1,"gpr":{}}}`, "", `"regs": "gpr" without "rax"`},
		{"rip is not ip", gprLine(64, 1, 0, map[string]string{"rip": "2"}, ""), "", `"regs": "ip" 0x1 is not the "rip" of "gpr" (0x2)`},
		{"32-bit rip is not ip", gprLine(32, 1, 0, map[string]string{"rip": "4294967298"}, ""), "", `"ip" 0x1 is not the "rip" of "gpr" (0x100000002)`},
		{"rsp is not sp", gprLine(64, 1, 16, map[string]string{"rsp": "32"}, ""), "", `"regs": "sp" 0x10 (0 when absent) is not the "rsp" of "gpr" (0x20)`},
		{"rsp without sp", gprLine(64, 1, 0, map[string]string{"rsp": "32"}, ""), "", `"sp" 0x0 (0 when absent) is not the "rsp" of "gpr" (0x20)`},
		{"gpr outside regs", `{"ev":"exit","tid":1,"cause":"signal","gpr":{}}`, `{}}`, `unknown member "gpr" in an event`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, testHeader+"\n"+`{"ev":"task","tid":1,"tgid":1}`+"\n"+tt.line+"\n")
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want a *LineError", err)
			}
			if le.Line != 3 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (line %d), want line 3 and %q\n%s", err, le.Line, tt.want, tt.line)
			}
			if tt.at != "" {
				col := fmt.Sprintf("column %d:", strings.Index(tt.line, tt.at)+1)
				if !strings.Contains(err.Error(), col) {
					t.Fatalf("error %q, want it at %s\n%s", err, col, tt.line)
				}
			}
			// The fast paths and the general decoder agree.
			fast, slow := newEventDecoder(Config{}), newEventDecoder(Config{})
			slow.noFast = true
			var a, b Event
			errA, errB := fast.decode([]byte(tt.line), &a), slow.decode([]byte(tt.line), &b)
			if errA == nil || errB == nil || errA.Error() != errB.Error() {
				t.Fatalf("fast: %v\ngeneral: %v", errA, errB)
			}
		})
	}
}

func TestWriterRejectsContradictoryGPR(t *testing.T) {
	base := Event{Kind: KindExit, TID: 1, Cause: shim.CauseSignal, HasRegs: true,
		Regs: Regs{Mode: 64, IP: 0x1000, SP: 0x2000, HasGPR: true, GPR: GPR{RIP: 0x1000, RSP: 0x2000}}}
	if _, err := AppendEvent(nil, &base); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Regs){
		"rip":    func(r *Regs) { r.GPR.RIP++ },
		"rsp":    func(r *Regs) { r.GPR.RSP++ },
		"eflags": func(r *Regs) { r.GPR.EFLAGS = 1 << 32 },
	} {
		e := base
		change(&e.Regs)
		if _, err := AppendEvent(nil, &e); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
