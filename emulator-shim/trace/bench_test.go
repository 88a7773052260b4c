package trace

import (
	"bytes"
	"io"
	"testing"
	"time"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// benchEvents is the size of the generated trace BenchmarkReplay replays.
const benchEvents = 1_000_000

// generateTrace writes a trace of at least n events shaped like a busy
// 64-bit guest: at most 64 threads alive, each registering a list,
// making futex calls (left to the emulator) and a get_robust_list, and
// dying holding three robust mutexes, one with a waiter, their memory
// and the walk recorded as fexrl record writes them.
func generateTrace(tb testing.TB, w io.Writer, n int) int {
	tw := NewWriter(w)
	if err := tw.WriteHeader(Header{ABIs: []string{ABIx86_64}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "bench", Config: Config{Mode: "emulated"}}); err != nil {
		tb.Fatal(err)
	}
	const leader = 1000
	written := 0
	put := func(e *Event) {
		if err := tw.WriteEvent(e); err != nil {
			tb.Fatal(err)
		}
		written++
	}
	put(&Event{Kind: KindTask, TID: leader, TGID: leader, ABI: ABIx86_64})
	var e Event
	for t := int32(leader + 1); written < n; t++ {
		slot := uint64(t % 64)
		head := 0x7f0000000000 + slot<<16
		e = Event{Kind: KindTask, TID: t, TGID: leader, Parent: leader, ABI: ABIx86_64, Flags: 0x3d0f00}
		put(&e)
		e = Event{Kind: KindSyscall, TID: t, ABI: ABIx86_64, Nr: 273, Args: [6]uint64{head, 24}, HasRet: true, Handled: true}
		put(&e)
		for i := 0; i < 12; i++ {
			e = Event{Kind: KindSyscall, TID: t, ABI: ABIx86_64, Nr: 202, Args: [6]uint64{head + 0x100 + uint64(i%3)*0x40, 0x80, 2}}
			put(&e)
		}
		e = Event{Kind: KindSyscall, TID: t, ABI: ABIx86_64, Nr: 274, Args: [6]uint64{0, head + 0x800, head + 0x808}, HasRet: true, Handled: true}
		put(&e)
		e = Event{Kind: KindSyscall, TID: t, ABI: ABIx86_64, Nr: 60}
		put(&e)
		// Three mutexes at head+0x100, +0x140, +0x180 (list node at +0x20).
		ex := Event{Kind: KindExit, TID: t, TGID: leader, Cause: shim.CauseExit, HasMemory: true, HasWalks: true}
		nodes := []uint64{head + 0x120, head + 0x160, head + 0x1a0}
		ex.Memory = append(ex.Memory, MemWord{Addr: head, Size: 8, Value: nodes[0]}, MemWord{Addr: head + 8, Size: 8, Value: 1<<64 - 0x20}, MemWord{Addr: head + 16, Size: 8, Value: 0})
		rep := &robustlist2.Report{FutexOffset: -0x20, Stop: robustlist2.StopEnd, Visited: 3, Marked: 3, Woken: 1}
		for i, nd := range nodes {
			next := head
			if i+1 < len(nodes) {
				next = nodes[i+1]
			}
			old := uint32(t)
			en := robustlist2.Entry{Node: nd, Word: nd - 0x20, Action: robustlist2.ActionMarked, Old: old, New: 0x40000000}
			if i == 1 {
				en.Old |= 0x80000000
				en.New |= 0x80000000
				en.Wakes, en.Woken = 1, 1
				ex.Waiters = []Waiter{{Addr: nd - 0x20, N: 1}}
			}
			ex.Memory = append(ex.Memory, MemWord{Addr: nd, Size: 8, Value: next}, MemWord{Addr: nd - 0x20, Size: 4, Value: uint64(en.Old)})
			rep.Entries = append(rep.Entries, en)
		}
		ex.Walks = []robustlist2.ListWalk{{Index: robustlist2.SlotNative, Slot: robustlist2.Slot{Head: head, Bits: 64}, Report: rep}}
		put(&ex)
	}
	if err := tw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return written
}

// BenchmarkReplay replays a generated trace of a million events on one
// goroutine, reading it from memory: with the text output of fexrl replay
// --check (discarded), with its JSON output, and with no output at all.
// It reports events per second.
func BenchmarkReplay(b *testing.B) {
	var tr bytes.Buffer
	n := generateTrace(b, &tr, benchEvents)
	for _, out := range []struct {
		name string
		sink func() Sink
	}{
		{"text", func() Sink { return NewTextSink(io.Discard, true) }},
		{"json", func() Sink { return NewJSONSink(io.Discard, true) }},
		{"none", func() Sink { return nopSink{} }},
	} {
		b.Run(out.name, func(b *testing.B) {
			b.SetBytes(int64(tr.Len()))
			b.ReportAllocs()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rd, err := NewReader(bytes.NewReader(tr.Bytes()))
				if err != nil {
					b.Fatal(err)
				}
				end, err := Replay(rd, out.sink(), ReplayOptions{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if end.Events != int64(n) || end.Diffs != 0 {
					b.Fatalf("%d events, %d differences", end.Events, end.Diffs)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// nopSink prints nothing.
type nopSink struct{}

func (nopSink) Header(Header) error { return nil }
func (nopSink) Step(*Step) error    { return nil }
func (nopSink) End(*End) error      { return nil }
func (nopSink) Flush() error        { return nil }

// TestGeneratedTraceChecks keeps the benchmark's trace honest: it
// replays with no difference and walks every exit.
func TestGeneratedTraceChecks(t *testing.T) {
	var tr bytes.Buffer
	n := generateTrace(t, &tr, 2000)
	rd, err := NewReader(&tr)
	if err != nil {
		t.Fatal(err)
	}
	end, err := Replay(rd, NewTextSink(io.Discard, true), ReplayOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if end.Events != int64(n) || end.Diffs != 0 || end.Stats.OwnerDiedMarked != 3*end.Exits || end.Stats.Woken != end.Exits {
		t.Fatalf("end %+v", end)
	}
}
