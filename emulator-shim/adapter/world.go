//go:build linux && amd64

package adapter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

// walkContext is the state of one walk: which address space it writes and
// which tasks fexrl stopped so that its read-compare-write of a private
// futex word is atomic with respect to the guest.
type walkContext struct {
	mm      *mmGroup
	self    *task
	stopped []*task
	world   bool
}

// interruptedWait is a FUTEX_WAIT that stopping the world interrupted.
//
// The kernel takes a waiter interrupted by a signal off the futex's wait
// queue and restarts its syscall once the signal is dealt with
// (-ERESTARTSYS, or -ERESTART_RESTARTBLOCK for a wait with a timeout;
// kernel/futex/waitwake.c, futex_wait). PTRACE_INTERRUPT is such a
// signal to the guest's wait: while fexrl's walk runs, the waiter is in
// no queue, so a wake finds no one, and the restarted wait compares the
// word again and fails with EAGAIN if the walk changed it, where
// natively the waiter, asleep all along, is woken (0) or sleeps on. So
// the walk's wakes take such waiters first, and resumeWorld ends a taken
// waiter's syscall with 0; one not taken, on a private word (which only
// the walk can have changed while its address space was stopped), waits
// again on the word's new value. One on a shared word restarts as it
// would: a process outside the address space may have changed the word
// and woken its waiters meanwhile, and waiting on would lose that wake.
type interruptedWait struct {
	addr    uint64
	val     uint32
	bitset  uint32
	private bool
	// regs are the waiter's registers at the interrupt.
	regs unix.PtraceRegs
	// woken: a walk's wake took this waiter.
	woken bool
}

// The kernel's internal restart codes (include/linux/errno.h), which a
// tracer sees in the result register of an interrupted syscall.
const (
	errRestartSys          = 512
	errRestartNoHand       = 514
	errRestartRestartBlock = 516
)

// futexWaitOf reports the futex wait a task stopped inside a syscall was
// interrupted in, from its registers: a FUTEX_WAIT or FUTEX_WAIT_BITSET
// (futex or, for i386, futex_time64) whose result register holds a
// restart code.
func futexWaitOf(r *unix.PtraceRegs, abi32, abi64 abi.Arch) (interruptedWait, bool) {
	var nr int
	var ret int64
	var addr, op, val, val3 uint64
	if r.Cs == user32CS {
		nr, ret = int(int32(uint32(r.Orig_rax))), int64(int32(uint32(r.Rax)))
		addr, op, val, val3 = uint64(uint32(r.Rbx)), uint64(uint32(r.Rcx)), r.Rdx, uint64(uint32(r.Rbp))
		if nr != abi32.Syscalls.Futex && nr != abi32.Syscalls.FutexTime64 {
			return interruptedWait{}, false
		}
	} else {
		nr, ret = int(int64(r.Orig_rax)), int64(r.Rax)
		addr, op, val, val3 = r.Rdi, r.Rsi, r.Rdx, r.R9
		if nr != abi64.Syscalls.Futex {
			return interruptedWait{}, false
		}
	}
	switch -ret {
	case errRestartSys, errRestartNoHand, errRestartRestartBlock:
	default:
		return interruptedWait{}, false
	}
	w := interruptedWait{addr: addr, val: uint32(val), private: op&abi.FutexPrivateFlag != 0, regs: *r}
	switch int(op) & abi.FutexCmdMask {
	case abi.FutexWait:
		w.bitset = abi.FutexBitsetMatchAny
	case abi.FutexWaitBitset:
		w.bitset = uint32(val3)
	default:
		return interruptedWait{}, false
	}
	return w, true
}

// user32CS is the code segment selector of 32-bit user code on x86-64
// (__USER32_CS, arch/x86/include/asm/segment.h).
const user32CS = 0x23

// noteWait records whether o, just stopped by the world's interrupt, was
// interrupted in a futex wait.
func (t *tracer) noteWait(o *task) {
	o.wait = nil
	var r unix.PtraceRegs
	if err := getRegs(o.tid, &r); err != nil {
		return
	}
	if w, ok := futexWaitOf(&r, t.abi32, t.abi64); ok {
		o.wait = &w
	}
}

// takeWaiters counts the waiters on addr, up to n, among the futex waits
// stopping wc's world interrupted, as woken by a robust-list wake: that
// wake is shared and matches any bitset, so it takes the waiters that
// wait shared (the kernel keys a private wait apart) with any bit set.
func takeWaiters(wc *walkContext, addr uint64, n int) int {
	woken := 0
	for _, o := range wc.stopped {
		if woken >= n {
			break
		}
		w := o.wait
		if w == nil || w.woken || w.addr != addr || w.private || w.bitset == 0 {
			continue
		}
		w.woken = true
		woken++
	}
	return woken
}

// walkWaker wakes the waiters of one walk: first those the walk's
// stopped world interrupted (see interruptedWait), then, for the rest,
// the waiters still asleep, through fexrl's mapping of shared memory or
// the fallback for private memory.
type walkWaker struct {
	wc    *walkContext
	inner robustlist2.Waker
}

// Wake wakes at most n waiters on addr, as a robust-list wake does
// (shared, any bitset).
func (w *walkWaker) Wake(addr uint64, n int) (int, error) {
	taken := takeWaiters(w.wc, addr, n)
	if taken == n {
		return taken, nil
	}
	woken, err := w.inner.Wake(addr, n-taken)
	return taken + woken, err
}

// stopWorld stops every task sharing wc.mm that is running, once per walk.
// Each is interrupted with PTRACE_INTERRUPT and waited for; a task that
// reports some other stop (a syscall, a signal, its exit) is stopped all
// the same, and that event is queued for the main loop.
func (t *tracer) stopWorld(wc *walkContext) {
	if wc.world || wc.mm == nil {
		return
	}
	wc.world = true
	var waiting []*task
	for _, o := range wc.mm.tasks {
		if o == wc.self || o.stopped {
			continue
		}
		if o.walked {
			// Past its exit: it runs no more guest code (a thread group
			// leader that exited first is a zombie until its threads
			// end). The kernel-wait check below would let it go too, but
			// only after its delay.
			continue
		}
		if err := unix.PtraceInterrupt(int(o.tid)); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				t.log.Warn("PTRACE_INTERRUPT", zap.Int32("tid", o.tid), zap.Error(err))
			}
			continue
		}
		waiting = append(waiting, o)
	}
	// Most tasks stop at once. One that does not is inside the kernel and
	// cannot get out: a parent waiting for its vfork child, a thread
	// waiting in exec for its siblings to die, a zombie. It runs no guest
	// code until it returns to user mode, and the pending interrupt stops
	// it right there, so the walk need not wait for it (the main loop
	// resumes it from that late stop); waiting would deadlock.
	deadline := time.Now().Add(20 * time.Millisecond)
	for len(waiting) > 0 {
		rest := waiting[:0]
		for _, o := range waiting {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(int(o.tid), &ws, unix.WALL|unix.WNOHANG, nil)
			if err == unix.EINTR || err == nil && wpid == 0 {
				if time.Now().Before(deadline) || !inKernelWait(o.tid) {
					rest = append(rest, o)
				} else {
					t.log.Debug("not waiting for a task held in the kernel", zap.Int32("tid", o.tid))
				}
				continue
			}
			if err != nil {
				continue
			}
			o.stopped = true
			event := int(ws>>16) & 0xff
			if ws.Stopped() && event == unix.PTRACE_EVENT_STOP && ws.StopSignal() == unix.SIGTRAP {
				o.interruptStop = true
				t.noteWait(o)
				wc.stopped = append(wc.stopped, o)
			} else if ws.Stopped() && event == unix.PTRACE_EVENT_STOP && o.groupStop {
				// A task in group-stop: stays there; LISTEN after the walk.
				o.interruptStop = true
				wc.stopped = append(wc.stopped, o)
			} else {
				// Some real event: the main loop handles it later; the
				// interrupt will show up again as an extra stop then.
				t.queue = append(t.queue, waitEvent{o.tid, ws})
			}
		}
		waiting = rest
		if len(waiting) > 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// inKernelWait reports whether thread tid sleeps uninterruptibly (state D:
// vfork and exec waits are killable sleeps) or is a zombie, from
// /proc/TID/stat. A running or interruptibly sleeping task will stop.
func inKernelWait(tid int32) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return true // gone
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st == 'D' || st == 'Z' || st == 'X'
}

// resumeWorld lets the tasks stopWorld stopped go on; a futex wait a
// wake took returns 0, one not taken whose private word the walk
// changed waits on (see interruptedWait).
func (t *tracer) resumeWorld(wc *walkContext) {
	for _, o := range wc.stopped {
		if o.wait != nil {
			if err := t.endWait(wc, o); err != nil {
				t.log.Warn("ending an interrupted futex wait", zap.Int32("tid", o.tid), zap.Error(err))
			}
			o.wait = nil
		}
		if o.interruptStop && o.stopped {
			_ = t.resume(o, 0)
		}
	}
	wc.stopped = nil
	wc.world = false
}

// endWait sets up how o's interrupted futex wait ends when o resumes.
func (t *tracer) endWait(wc *walkContext, o *task) error {
	w := o.wait
	if w.woken {
		return pokeUser(o.tid, userRAX, 0)
	}
	if wc.mm == nil || wc.mm.proc == nil || wc.mm.proc.Shared(w.addr) {
		return nil // the kernel's restart
	}
	now, err := wc.mm.proc.Load32(w.addr)
	if err != nil || now == w.val {
		return nil // the kernel's restart compares what it would have
	}
	// Wait again, on the new value: the syscall instruction runs again
	// (2 bytes, as the kernel's own restart assumes) with the futex
	// number, the same arguments but val, and, for a wait with a
	// timeout, the timeout from its start.
	r := w.regs
	r.Rax = r.Orig_rax
	r.Rip -= 2
	r.Rdx = uint64(now)
	return setRegs(o.tid, &r)
}

// waitCall is a syscall that reaps children, with the index of its
// options argument.
type waitCall struct {
	nr, optionsArg int
}

// waitCalls are a's syscalls that reap children: waitpid(pid, status,
// options), wait4(pid, status, options, rusage) and waitid(idtype, id,
// infop, options, rusage).
func waitCalls(a abi.Arch) []waitCall {
	var w []waitCall
	for _, c := range []waitCall{{a.Syscalls.Waitpid, 2}, {a.Syscalls.Wait4, 2}, {a.Syscalls.Waitid, 3}} {
		if c.nr != abi.NoSyscall {
			w = append(w, c)
		}
	}
	return w
}

// isWaitCall reports whether nr is one of a's waitCalls; it runs at
// every trapped syscall, so it allocates nothing.
func isWaitCall(a abi.Arch, nr int) bool {
	s := a.Syscalls
	return nr != abi.NoSyscall && (nr == s.Waitpid || nr == s.Wait4 || nr == s.Waitid)
}

// reapPending collects the wait status of every tracee that has one
// waiting, for the main loop to handle.
//
// A traced process that has ended is a zombie only its tracer can reap
// first; its parent's wait sees it once the tracer has (kernel/exit.c,
// wait_consider_task). But its parent may know it has ended already: the
// pidfd is readable, SIGCHLD has come. So before a guest's WNOHANG wait
// runs (the filter stops it), fexrl reaps what it can, and the wait
// finds the child as it would natively.
func (t *tracer) reapPending() {
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || tid <= 0 {
			return
		}
		t.queue = append(t.queue, waitEvent{int32(tid), ws})
	}
}
