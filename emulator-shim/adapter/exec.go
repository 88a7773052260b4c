//go:build linux && amd64

package adapter

import (
	"errors"

	"github.com/fexrl/fexrl/robustlist2/guestmem"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// An execve walks the task's lists (the kernel's exec_mm_release) only
// once the exec can no longer fail, and by then the old address space is
// gone. So at the execve stop fexrl walks the lists dry, recording every
// word it reads, and resumes the task with PTRACE_SYSCALL: a failed
// execve comes back as a syscall-exit stop and the plan is dropped; a
// successful one reports PTRACE_EVENT_EXEC, and the real walk runs then,
// on the recorded memory for what was private to the old image and on
// fexrl's own mapping for what lives in shared memory — the only futex
// words anyone else can still see.
type execPlan struct {
	live   *guestmem.Process // a Process of its own: its view of the old mappings must survive the exec
	words  map[uint64]uint32 // recorded 32-bit reads
	longs  map[uint64]uint64 // recorded 64-bit reads
	shared map[uint64]bool   // words in shared memory, reached live after the exec
}

var errNotRecorded = errors.New("address not recorded before exec")

// recorder reads the live memory and remembers what it read; it never
// writes, and its compare-and-swap pretends to succeed so the dry walk
// takes the path the real one will.
type recorder struct{ p *execPlan }

func (r recorder) Load32(addr uint64) (uint32, error) {
	v, err := r.p.live.Load32(addr)
	if err == nil {
		r.p.words[addr] = v
		if r.p.live.Shared(addr) {
			r.p.shared[addr] = true
		}
	}
	return v, err
}

func (r recorder) Load64(addr uint64) (uint64, error) {
	v, err := r.p.live.Load64(addr)
	if err == nil {
		r.p.longs[addr] = v
	}
	return v, err
}

func (r recorder) Store32(uint64, uint32) error { return nil }
func (r recorder) Store64(uint64, uint64) error { return nil }
func (r recorder) CompareAndSwap32(addr uint64, old, _ uint32) (uint32, error) {
	return old, nil
}

type nopWaker struct{}

func (nopWaker) Wake(uint64, int) (int, error) { return 0, nil }

// afterExec is the memory the real walk sees after the exec: shared
// words live, everything else as recorded.
type afterExec struct{ p *execPlan }

func (a afterExec) Load32(addr uint64) (uint32, error) {
	if a.p.shared[addr] {
		return a.p.live.Load32(addr)
	}
	if v, ok := a.p.words[addr]; ok {
		return v, nil
	}
	return 0, errNotRecorded
}

func (a afterExec) Load64(addr uint64) (uint64, error) {
	if a.p.shared[addr] {
		return a.p.live.Load64(addr)
	}
	if v, ok := a.p.longs[addr]; ok {
		return v, nil
	}
	return 0, errNotRecorded
}

func (a afterExec) Store32(addr uint64, v uint32) error {
	if a.p.shared[addr] {
		return a.p.live.Store32(addr, v)
	}
	a.p.words[addr] = v
	return nil
}

func (a afterExec) Store64(addr uint64, v uint64) error {
	if a.p.shared[addr] {
		return a.p.live.Store64(addr, v)
	}
	a.p.longs[addr] = v
	return nil
}

func (a afterExec) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if a.p.shared[addr] {
		return a.p.live.CompareAndSwap32(addr, old, new)
	}
	v, ok := a.p.words[addr]
	if !ok {
		return 0, errNotRecorded
	}
	if v == old {
		a.p.words[addr] = new
	}
	return v, nil
}

// afterExecWaker wakes through shared mappings only: the old image's
// private memory has no waiters left.
type afterExecWaker struct{ p *execPlan }

func (w afterExecWaker) Wake(addr uint64, n int) (int, error) {
	if !w.p.shared[addr] {
		return 0, nil
	}
	return guestmem.NewProcessWaker(w.p.live, nil).Wake(addr, n)
}

// startExec records the dry walk and lets the execve run.
func (t *tracer) startExec(tk *task) error {
	tk.exec = nil
	if rt, ok := t.shim.Registry().Lookup(tk.tid); ok {
		if lists := rt.Lists(); len(lists) > 0 {
			live, err := guestmem.NewProcess(int(tk.tid))
			if err != nil {
				t.log.Warn("exec: cannot read the old image", zap.Int32("tid", tk.tid), zap.Error(err))
				return t.resume(tk, 0)
			}
			p := &execPlan{live: live, words: map[uint64]uint32{}, longs: map[uint64]uint64{}, shared: map[uint64]bool{}}
			for _, l := range lists {
				if l.Backend == robustlist2.BackendWalk {
					t.shim.Registry().Walk(recorder{p}, nopWaker{}, l.Head, l.Bits, uint32(tk.tid), robustlist2.WalkOptions{})
				}
			}
			tk.exec = p
		}
	}
	tk.stopped = false
	if err := unix.PtraceSyscall(int(tk.tid), 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// onSyscallExit sees the end of an execve that failed.
func (t *tracer) onSyscallExit(tk *task) error {
	if tk.exec != nil {
		_ = tk.exec.live.Close()
		tk.exec = nil
	}
	return t.resume(tk, 0)
}

// onExec handles a successful execve: the launcher becoming the guest, or
// a guest task replacing its image.
func (t *tracer) onExec(tk *task) error {
	if tk.launching {
		tk.launching = false
		if err := unix.PtraceSetOptions(int(tk.tid), t.options); err != nil {
			return err
		}
		t.join(tk, t.newMM())
		t.nTasks++
		t.shim.TaskStarted(tk.tid, tk.tgid)
		if t.opts.OnTask != nil {
			t.opts.OnTask(TaskEvent{Kind: "start", TID: tk.tid, TGID: tk.tgid, ABI: t.taskABI(tk.tid)})
		}
		return t.resume(tk, 0)
	}
	former := tk.tid
	if msg, err := getEventMsg(tk.tid); err == nil {
		former = int32(msg)
	}
	execer := tk
	if former != tk.tid {
		// A non-leader thread exec'd and took over the leader's TID; the
		// leader's own lists were walked at its exit stop.
		if ft := t.tasks[former]; ft != nil {
			execer = ft
			t.join(ft, nil)
			delete(t.tasks, former)
		}
		t.shim.Forget(tk.tid)
		tk.exec = execer.exec
	}
	ev := TaskEvent{Kind: "exec", TID: tk.tid, TGID: tk.tgid, Former: former, ABI: t.taskABI(tk.tid)}
	if p := tk.exec; p != nil {
		var mem robustlist2.Memory = afterExec{p}
		var capt *guestmem.Capture
		if t.opts.CaptureMemory {
			capt = guestmem.NewCapture(mem)
			mem = capt
		}
		walks := t.shim.TaskExec(former, &shim.Env{Memory: mem, Waker: afterExecWaker{p}})
		t.reportWalks(tk, shim.CauseExec, walks, capt)
		ev.Walks = walks
		if capt != nil {
			ev.Memory = capt.Words()
		}
		_ = p.live.Close()
	} else {
		t.shim.TaskExec(former, &shim.Env{Memory: afterExec{&execPlan{}}, Waker: nopWaker{}})
	}
	tk.exec = nil
	if t.opts.OnTask != nil {
		t.opts.OnTask(ev)
	}
	if former != tk.tid {
		t.shim.Forget(former)
		t.shim.TaskStarted(tk.tid, tk.tgid)
	}
	// The new image has an address space of its own.
	t.join(tk, t.newMM())
	t.log.Debug("exec", zap.Int32("tid", tk.tid), zap.Int32("former", former))
	return t.resume(tk, 0)
}
