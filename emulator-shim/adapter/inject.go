//go:build linux && amd64

package adapter

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
)

// injector makes a guest task that is stopped at the entry of a trapped
// syscall (a seccomp stop) run other syscalls first: fexrl uses it to wake
// futex waiters in the task's private memory, which only a task of the
// same address space can reach. When it is done, the task's registers are
// restored with the instruction pointer moved back over the syscall
// instruction (all of int $0x80, syscall and the vDSO's landing pad are
// two bytes), so the original syscall runs again from the start.
type injector struct {
	t  *tracer
	tk *task
	// abi is the ABI of the trapped syscall: the injected ones run through
	// the same instruction, so they use its numbers and registers.
	abi       abi.Arch
	saved     unix.PtraceRegs
	haveSaved bool
	used      bool
	rewound   bool
	failed    error
}

// stackScratch returns an aligned address below the task's stack (past
// the x86-64 red zone) that the task can use as a futex nobody waits on.
func (in *injector) stackScratch() (uint64, error) {
	if !in.used && in.failed == nil {
		if err := getRegs(in.tk.tid, &in.saved); err != nil {
			in.failed = err
			return 0, err
		}
		in.haveSaved = true
	}
	sp := in.saved.Rsp
	if in.abi.Bits == abi.Bits32 {
		sp = uint64(uint32(sp))
	}
	return (sp - 256) &^ 7, nil
}

// syscall runs nr with args in the task and returns its result.
func (in *injector) syscall(nr int, args ...uint64) (int64, error) {
	if in.failed != nil {
		return 0, in.failed
	}
	tid := int(in.tk.tid)
	if !in.used && !in.haveSaved {
		if err := getRegs(int32(tid), &in.saved); err != nil {
			in.failed = err
			return 0, err
		}
		in.haveSaved = true
	}
	r := in.saved
	r.Orig_rax = uint64(nr)
	r.Rax = uint64(nr)
	var a [6]uint64
	copy(a[:], args)
	if in.abi.Bits == abi.Bits32 {
		r.Rbx, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.Rbp = a[0], a[1], a[2], a[3], a[4], a[5]
	} else {
		r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	}
	if in.used {
		// The task sits at the exit of the previous injected syscall:
		// run the syscall instruction again, through its entry stop.
		r.Rip = in.saved.Rip - 2
		if err := in.step(&r, true); err != nil {
			return 0, err
		}
	} else if err := setRegs(int32(tid), &r); err != nil {
		in.failed = err
		return 0, err
	}
	in.used = true
	if err := in.waitSyscallStop(); err != nil {
		return 0, err
	}
	var out unix.PtraceRegs
	if err := getRegs(int32(tid), &out); err != nil {
		in.failed = err
		return 0, err
	}
	if in.abi.Bits == abi.Bits32 {
		return int64(int32(out.Rax)), nil
	}
	return int64(out.Rax), nil
}

// step sets r and runs the task to its syscall-entry stop.
func (in *injector) step(r *unix.PtraceRegs, entry bool) error {
	tid := int(in.tk.tid)
	if err := setRegs(int32(tid), r); err != nil {
		in.failed = err
		return err
	}
	if !entry {
		return nil
	}
	return in.waitSyscallStop()
}

// waitSyscallStop resumes the task with PTRACE_SYSCALL and waits for its
// next syscall stop.
func (in *injector) waitSyscallStop() error {
	tid := int(in.tk.tid)
	if err := unix.PtraceSyscall(tid, 0); err != nil {
		in.failed = err
		return err
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			in.failed = err
			return err
		}
		if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP|0x80 {
			return nil
		}
		// Anything else (a signal, the task killed) ends the injection;
		// the main loop gets the event.
		in.failed = fmt.Errorf("task %d: unexpected stop %#x during an injected syscall", tid, uint32(ws))
		in.t.queue = append(in.t.queue, waitEvent{in.tk.tid, ws})
		return in.failed
	}
}

// wake makes the task wake n waiters on the futex word at addr, shared
// (no FUTEX_PRIVATE_FLAG), as the kernel's robust-list wake does.
func (in *injector) wake(addr uint64, n int) (int, error) {
	r, err := in.syscall(in.abi.Syscalls.Futex, addr, abi.FutexWake, uint64(n))
	if err != nil {
		return 0, err
	}
	if r < 0 {
		return 0, unix.Errno(-r)
	}
	return int(r), nil
}

// complete ends the trapped syscall with ret instead of running it: the
// task resumes after the syscall instruction with every register as it
// was but the result register.
func (in *injector) complete(ret int64) error {
	if in.failed != nil {
		return in.failed
	}
	if !in.used {
		if err := setReturn(in.tk.tid, ret); err != nil {
			return err
		}
		in.rewound = true
		return in.t.resume(in.tk, 0)
	}
	r := in.saved
	r.Rax = uint64(ret)
	if err := setRegs(in.tk.tid, &r); err != nil {
		return err
	}
	in.rewound = true
	return in.t.resume(in.tk, 0)
}

// finish puts the task back at its original syscall. If nothing was
// injected the task is left as it was (still at its seccomp stop).
func (in *injector) finish() error {
	if !in.used || in.failed != nil {
		return in.failed
	}
	r := in.saved
	r.Rip = in.saved.Rip - 2
	r.Rax = in.saved.Orig_rax
	if err := setRegs(in.tk.tid, &r); err != nil {
		return err
	}
	in.rewound = true
	return in.t.resume(in.tk, 0)
}

// errnoOf turns a negative syscall result into its errno.
func errnoOf(r int64) error { return unix.Errno(-r) }
