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

// resumeWorld lets the tasks stopWorld stopped go on.
func (t *tracer) resumeWorld(wc *walkContext) {
	for _, o := range wc.stopped {
		if o.interruptStop && o.stopped {
			_ = t.resume(o, 0)
		}
	}
	wc.stopped = nil
	wc.world = false
}
