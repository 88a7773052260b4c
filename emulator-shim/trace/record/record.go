//go:build linux && amd64

// Package record writes what the ptrace adapter sees of a guest as a
// trace (see package trace): every task start and clone, every trapped
// syscall with fexrl's answer, and every exit and exec with the memory
// its walks read before fexrl wrote anything, the waiters the walks
// found and the walks themselves.
package record

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/robustlist2"
)

// Recorder turns adapter events into trace events. Its methods are safe
// for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	out  io.Writer
	w    *trace.Writer
	hdr  trace.Header
	seen map[string]bool
	// exited holds the tasks whose exit was recorded: the adapter
	// reports their exit syscall once more when it lets it run after
	// injecting futex wakes, which the trace leaves out.
	exited map[int32]bool
	ev     trace.Event
	err    error
	events int64
}

// New writes the header h to out and returns a Recorder. h.ABIs may be
// empty: the ABIs seen are put in the header at Close when out is a file
// (otherwise they stay as given; GuessABIs helps). h.Host and h.Source
// default to this machine and "record".
func New(out io.Writer, h trace.Header) (*Recorder, error) {
	if h.Version == 0 {
		h.Version = trace.Version
	}
	if h.Source == "" {
		h.Source = "record"
	}
	if h.Host.OS == "" {
		h.Host = ThisHost()
	}
	if len(h.ABIs) == 0 {
		h.ABIs = []string{trace.ABIx86_64}
	}
	r := &Recorder{out: out, hdr: h, seen: map[string]bool{}, exited: map[int32]bool{}}
	r.w = trace.NewWriter(out)
	if err := r.w.WriteHeaderPadded(h, trace.ABIReserve); err != nil {
		return nil, err
	}
	return r, nil
}

// ThisHost describes the machine fexrl runs on.
func ThisHost() trace.Host {
	h := trace.Host{OS: runtime.GOOS, Arch: runtime.GOARCH}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}

// GuessABIs returns the ABI of the ELF program at path ("x86_32" or
// "x86_64"), or nil if it cannot tell.
func GuessABIs(path string) []string {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_386:
		return []string{trace.ABIx86_32}
	case elf.EM_X86_64:
		return []string{trace.ABIx86_64}
	}
	return nil
}

// Options sets the adapter options the recorder needs: memory capture
// and the task and syscall callbacks (callbacks already set are still
// called, after the recorder's).
func (r *Recorder) Options(o *adapter.Options) {
	o.CaptureMemory = true
	onTask, onSyscall := o.OnTask, o.OnSyscall
	o.OnTask = func(ev adapter.TaskEvent) {
		r.Task(ev)
		if onTask != nil {
			onTask(ev)
		}
	}
	o.OnSyscall = func(ev adapter.SyscallEvent) {
		r.Syscall(ev)
		if onSyscall != nil {
			onSyscall(ev)
		}
	}
}

// Events returns how many events were written.
func (r *Recorder) Events() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

func (r *Recorder) write() {
	if r.err != nil {
		return
	}
	if r.ev.ABI != "" {
		r.seen[r.ev.ABI] = true
	}
	if err := r.w.WriteEvent(&r.ev); err != nil {
		r.err = err
		return
	}
	r.events++
}

// Syscall records a trapped syscall. Only fexrl's answers are recorded
// as return values: the adapter does not see what the host kernel
// answers the others.
func (r *Recorder) Syscall(ev adapter.SyscallEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exited[ev.TID] {
		if ev.Name == "exit" || ev.Name == "exit_group" {
			return
		}
		delete(r.exited, ev.TID)
	}
	e := &r.ev
	e.Reset()
	e.Kind = trace.KindSyscall
	e.TID, e.ABI, e.Nr, e.Args = ev.TID, ev.ABI, int32(ev.Nr), ev.Args
	e.Handled = ev.Handled
	e.Ret, e.HasRet = ev.Ret, ev.Handled
	r.write()
}

// Task records a task start, clone, exit or exec.
func (r *Recorder) Task(ev adapter.TaskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &r.ev
	e.Reset()
	e.TID, e.TGID, e.ABI = ev.TID, ev.TGID, ev.ABI
	switch ev.Kind {
	case "start", "clone":
		delete(r.exited, ev.TID)
		e.Kind = trace.KindTask
		e.Parent, e.Flags = ev.Parent, ev.Flags
		if ev.Kind == "start" {
			e.Parent = 0
		}
	case "exit":
		e.Kind = trace.KindExit
		e.ABI = ""
		cause, ok := trace.ParseCause(ev.Cause)
		if !ok {
			r.setErr(fmt.Errorf("record: exit of tid %d with cause %q", ev.TID, ev.Cause))
			return
		}
		e.Cause = cause
		if ev.ABI != "" {
			// The adapter read the registers (a death the task did not
			// ask for).
			e.HasRegs = true
			e.Regs = trace.Regs{Mode: 64, IP: ev.IP, SP: ev.SP, TP: ev.ThreadPointer}
			if ev.ABI == trace.ABIx86_32 {
				e.Regs.Mode = 32
			}
			if ev.GPR != nil {
				e.Regs.GPR, e.Regs.HasGPR = trace.NewGPR(ev.GPR), true
			}
		}
		r.outcome(ev)
		r.exited[ev.TID] = true
	case "exec":
		e.Kind = trace.KindExec
		e.Former = ev.Former
		r.outcome(ev)
	default:
		r.setErr(fmt.Errorf("record: unknown task event %q", ev.Kind))
		return
	}
	r.write()
}

func (r *Recorder) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// outcome fills in the memory, waiters and walks of an exit or exec.
func (r *Recorder) outcome(ev adapter.TaskEvent) {
	e := &r.ev
	e.HasMemory, e.HasWalks = true, true
	captured := make(map[uint64]int, len(ev.Memory))
	for _, m := range ev.Memory {
		e.Memory = append(e.Memory, trace.MemWord{Addr: m.Addr, Size: m.Size, Value: m.Value})
		if m.Size == 4 {
			captured[m.Addr] = len(e.Memory) - 1
		}
	}
	waiters := map[uint64]int{}
	var order []uint64
	for _, w := range ev.Walks {
		if w.Report == nil {
			continue
		}
		for _, en := range w.Report.Entries {
			if en.Action == robustlist2.ActionFault {
				// Read, but the write faulted: a read-only word.
				if i, ok := captured[en.Word]; ok {
					e.Memory[i].RO = true
				}
			}
			if en.Wakes == 0 {
				continue
			}
			if _, ok := waiters[en.Word]; !ok {
				order = append(order, en.Word)
				waiters[en.Word] = 0
			}
			if en.Woken < 0 {
				waiters[en.Word] = -1
			} else if waiters[en.Word] >= 0 {
				waiters[en.Word] += en.Woken
			}
		}
	}
	for _, a := range order {
		switch n := waiters[a]; {
		case n < 0:
			e.Waiters = append(e.Waiters, trace.Waiter{Addr: a, Fail: "the wake failed when recorded"})
		case n > 0:
			e.Waiters = append(e.Waiters, trace.Waiter{Addr: a, N: n})
		}
	}
	e.Walks = append(e.Walks, ev.Walks...)
}

// Close flushes the trace, puts the ABIs seen in the header when the
// output is a file, and returns the first error met.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.w.Flush(); err != nil {
		r.setErr(err)
	}
	if r.err != nil {
		return r.err
	}
	f, ok := r.out.(*os.File)
	if !ok || len(r.seen) == 0 {
		return nil
	}
	abis := trace.SortABIs(r.seen)
	if equal(abis, r.hdr.ABIs) {
		return nil
	}
	h := r.hdr
	h.ABIs = abis
	return r.w.RewriteHeader(f, h)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
