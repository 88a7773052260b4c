package trace

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are the fixture traces (their first lines) and small traces
// that reach every event kind.
func fuzzSeeds(f *testing.F) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join(tracesDir, "*.trace"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		f.Add([]byte(strings.Join(lines[:min(len(lines), 12)], "")))
	}
	f.Add(build(f, Config{}, sampleEvents()...))
	f.Add(build(f, Config{RobustList2: true, ListLimit: 2}, task(1, 1, 0), sys(1, ABIx86_64, 473, 0, head32, 1), sys(1, ABIx86_64, 474, 0, 0, 0x5000, 0, 0)))
	f.Add([]byte(testHeader + "\n{\"ev\":\"task\",\"tid\":1,\"tgid\":1}\n{\"ev\":\"exit\",\"tid\":1,\"cause\":\"exit\",\"memory\":[]}\n"))
}

// FuzzReader checks that no input makes the reader panic, and that every
// event it accepts is written back to a line it reads the same way.
func FuzzReader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := AppendHeader(nil, rd.Header()); err != nil {
			t.Fatalf("an accepted header cannot be written: %v", err)
		}
		dec := newEventDecoder(rd.Header().Config)
		slow := newEventDecoder(rd.Header().Config)
		slow.noFast = true
		var e2, e3 Event
		for {
			e, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if _, ok := err.(*LineError); !ok {
					t.Fatalf("error %T %v is no *LineError", err, err)
				}
				return
			}
			line, err := AppendEvent(nil, e)
			if err != nil {
				t.Fatalf("an accepted event cannot be written: %v", err)
			}
			// The general decoder reads the writer's line as the fast
			// paths do.
			if err := slow.decode(line, &e3); err != nil {
				t.Fatalf("the general decoder rejects the writer's line: %v\n%s", err, line)
			}
			if l3, _ := AppendEvent(nil, &e3); !bytes.Equal(l3, line) {
				t.Fatalf("fast and general decoders differ:\n%s\n%s", line, l3)
			}
			// Read the written line back: it must give the same line.
			if err := dec.decode(line, &e2); err != nil {
				t.Fatalf("the writer's line does not read back: %v\n%s", err, line)
			}
			line2, err := AppendEvent(nil, &e2)
			if err != nil || !bytes.Equal(line, line2) {
				t.Fatalf("round trip changed the event:\n%s\n%s", line, line2)
			}
		}
	})
}

// FuzzFastPaths checks that the fast paths and the general decoder agree
// on every line: both accept it with the same event, or both reject it
// with the same error.
func FuzzFastPaths(f *testing.F) {
	for _, e := range sampleEvents() {
		line, err := AppendEvent(nil, &e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	f.Add([]byte(`{"ev":"syscall","tid":1,"abi":"x86_64","nr":202,"args":[1,2,3,4,5,6],"ret":-11,"handled":true}`))
	f.Add([]byte(`{"ev":"task","tid":0,"tgid":1,"parent":1}`))
	f.Add([]byte(`{"ev":"exit","tid":1,"cause":"exit","memory":[{"addr":4096,"size":4,"value":1,"ro":true}],"walks":[{"index":0,"head":4096,"bits":32,"backend":"fexrl-walk","futex_offset":0,"pending":0,"stop":"head-fault","visited":0,"marked":0,"woken":0,"entries":[{"node":1,"word":0,"action":"fault","old":0,"new":0,"wakes":1,"woken":-1}]}]}`))
	f.Add([]byte(`{"ev":"exit","tid":1,"cause":"signal","regs":{"mode":32,"ip":1,"gpr":{"rax":1,"rbx":2,"rcx":3,"rdx":4,"rsi":5,"rdi":6,"rbp":7,"rsp":0,"r8":8,"r9":9,"r10":10,"r11":11,"r12":12,"r13":13,"r14":14,"r15":15,"rip":4294967297,"eflags":4294967296}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fast := newEventDecoder(Config{})
		slow := newEventDecoder(Config{})
		slow.noFast = true
		var a, b Event
		errA := fast.decode(line, &a)
		errB := slow.decode(line, &b)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("fast: %v\ngeneral: %v", errA, errB)
		}
		if errA != nil {
			return
		}
		la, _ := AppendEvent(nil, &a)
		lb, _ := AppendEvent(nil, &b)
		if !bytes.Equal(la, lb) {
			t.Fatalf("fast: %s\ngeneral: %s", la, lb)
		}
	})
}

// FuzzReplay checks that no trace makes replay panic, and that replay is
// deterministic.
func FuzzReplay(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var outs [2]string
		for i := range outs {
			rd, err := NewReader(bytes.NewReader(data))
			if err != nil {
				return
			}
			var b bytes.Buffer
			var sink Sink = NewTextSink(&b, true)
			if i == 1 {
				sink = NewJSONSink(&b, true)
			}
			_, _ = Replay(rd, sink, ReplayOptions{}, nil)
			outs[i] = b.String()
		}
		rd, _ := NewReader(bytes.NewReader(data))
		var b bytes.Buffer
		_, _ = Replay(rd, NewTextSink(&b, true), ReplayOptions{}, nil)
		if b.String() != outs[0] {
			t.Fatalf("two replays of the same trace differ")
		}
	})
}
