//go:build linux && amd64

package adapter

import (
	"errors"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"golang.org/x/arch/x86/x86asm"

	"github.com/fexrl/fexrl/abi"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// task is one traced guest thread.
type task struct {
	tid, tgid int32
	mm        *mmGroup
	// launching: the launcher, before it execs the guest.
	launching bool
	// stopped: in a ptrace-stop the tracer has not resumed yet.
	stopped bool
	// groupStop: in a group-stop; resumed with PTRACE_LISTEN.
	groupStop bool
	// interruptStop: stopped by our PTRACE_INTERRUPT only.
	interruptStop bool
	// orphan: a new child that stopped before its parent's clone event.
	orphan bool
	// walked: its lists were walked at its exit or exit_group syscall.
	walked bool
	// exitCause is set when its thread group is known to be ending.
	exitCause shim.Cause
	causeSet  bool
	// exec is the pending execve's walk plan.
	exec *execPlan
	// wait is the futex wait the current walk's stopped world
	// interrupted, if any.
	wait *interruptedWait
}

// mmGroup is the set of tasks that share one address space (threads, and
// CLONE_VM children such as vfork's).
type mmGroup struct {
	id    int
	tasks map[int32]*task
	proc  *guestmem.Process
}

func (t *tracer) newMM() *mmGroup {
	t.mmSeq++
	mm := &mmGroup{id: t.mmSeq, tasks: map[int32]*task{}}
	t.mms[mm.id] = mm
	return mm
}

func (t *tracer) join(tk *task, mm *mmGroup) {
	if tk.mm != nil {
		delete(tk.mm.tasks, tk.tid)
		if len(tk.mm.tasks) == 0 {
			delete(t.mms, tk.mm.id)
			if tk.mm.proc != nil {
				_ = tk.mm.proc.Close()
			}
		}
	}
	tk.mm = mm
	if mm != nil {
		mm.tasks[tk.tid] = tk
	}
}

func (t *tracer) abiFor(auditArch uint32) (abi.Arch, bool) {
	switch auditArch {
	case t.abi64.AuditArch:
		return t.abi64, true
	case t.abi32.AuditArch:
		return t.abi32, true
	}
	return abi.Arch{}, false
}

// resume lets a stopped task go on, delivering sig.
func (t *tracer) resume(tk *task, sig int) error {
	tk.stopped, tk.interruptStop = false, false
	var err error
	if tk.groupStop && sig == 0 {
		err = ptraceListen(tk.tid)
	} else {
		err = cont(tk.tid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		// Killed meanwhile (SIGKILL needs no permission): its exit
		// status is on its way.
		return nil
	}
	return err
}

func (t *tracer) handle(ev waitEvent) error {
	ws := ev.ws
	tk := t.tasks[ev.tid]
	if ws.Exited() || ws.Signaled() {
		t.reap(ev.tid, tk, ws)
		return nil
	}
	if !ws.Stopped() {
		return nil
	}
	if tk == nil {
		// A new child reports its first stop before its parent's clone
		// event: keep it stopped until the parent tells us who it is.
		t.tasks[ev.tid] = &task{tid: ev.tid, orphan: true, stopped: true}
		return nil
	}
	tk.stopped = true
	sig := ws.StopSignal()
	event := int(ws>>16) & 0xff
	if event != unix.PTRACE_EVENT_STOP {
		// Any other stop (SIGKILL's exit stop, a signal after SIGCONT)
		// means the task left its group-stop: resume it with CONT.
		tk.groupStop = false
	}
	if ce := t.log.Check(zap.DebugLevel, "stop"); ce != nil {
		ce.Write(zap.Int32("tid", tk.tid), zap.Int("signal", int(sig)), zap.Int("event", event), zap.Bool("launching", tk.launching))
	}
	switch {
	case event == unix.PTRACE_EVENT_SECCOMP:
		return t.onSeccomp(tk)
	case event == unix.PTRACE_EVENT_CLONE || event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK:
		return t.onClone(tk, event)
	case event == unix.PTRACE_EVENT_EXEC:
		return t.onExec(tk)
	case event == unix.PTRACE_EVENT_EXIT:
		return t.onExit(tk)
	case event == unix.PTRACE_EVENT_STOP:
		switch sig {
		case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			tk.groupStop = true
			return t.resume(tk, 0) // PTRACE_LISTEN
		}
		// An interrupt (ours, late) or a new child's first stop.
		tk.groupStop = false
		return t.resume(tk, 0)
	case sig == unix.SIGTRAP|0x80:
		return t.onSyscallExit(tk)
	}
	// A signal on its way to the guest: deliver it.
	if sig == unix.SIGCONT {
		tk.groupStop = false
	}
	return t.resume(tk, int(sig))
}

// reap forgets a task that is gone.
func (t *tracer) reap(tid int32, tk *task, ws unix.WaitStatus) {
	if tid == t.mainPid {
		t.mainDone, t.mainWS = true, ws
	}
	if tk == nil {
		return
	}
	if !tk.launching {
		// Lists not walked by now (exit events are always traced, so only
		// a task fexrl could not stop) can no longer be reached.
		t.shim.Forget(tid)
	}
	t.join(tk, nil)
	delete(t.tasks, tid)
}

// onClone registers the child of a clone, fork or vfork.
func (t *tracer) onClone(parent *task, event int) error {
	msg, err := getEventMsg(parent.tid)
	if err != nil {
		return t.resume(parent, 0)
	}
	childTID := int32(msg)
	// The event does not say what the child shares: the kernel reports a
	// clone whose exit signal is SIGCHLD as a fork (even one with CLONE_VM
	// or CLONE_THREAD) and one with CLONE_VFORK as a vfork
	// (kernel/fork.c, kernel_clone). The flags of the call itself do; a
	// fork or vfork syscall has none to read.
	flags, ok := t.cloneFlags(parent)
	if !ok {
		flags = uint64(unix.SIGCHLD)
		switch event {
		case unix.PTRACE_EVENT_VFORK:
			flags |= unix.CLONE_VM | unix.CLONE_VFORK
		case unix.PTRACE_EVENT_CLONE:
			// A clone whose flags could not be read: a thread is the
			// common case, and sharing memory is the safe guess (the
			// world is stopped for its walks).
			flags = unix.CLONE_VM | unix.CLONE_THREAD
		}
	}
	child := t.tasks[childTID]
	if child == nil {
		child = &task{tid: childTID}
		t.tasks[childTID] = child
	}
	child.orphan = false
	child.tgid = childTID
	if flags&unix.CLONE_THREAD != 0 {
		child.tgid = parent.tgid
	}
	if flags&unix.CLONE_VM != 0 {
		t.join(child, parent.mm)
	} else {
		t.join(child, t.newMM())
	}
	t.nTasks++
	t.shim.TaskCreated(parent.tid, childTID, child.tgid)
	if t.opts.OnTask != nil {
		t.opts.OnTask(TaskEvent{Kind: "clone", TID: childTID, TGID: child.tgid, Parent: parent.tid, Flags: flags, ABI: t.taskABI(parent.tid)})
	}
	if err := t.resume(parent, 0); err != nil {
		return err
	}
	if child.stopped {
		return t.resume(child, 0)
	}
	return nil
}

// cloneFlags reads the flags of the clone or clone3 call parent is in;
// ok is false for a fork or vfork syscall (no flags) or registers or
// memory that could not be read.
func (t *tracer) cloneFlags(parent *task) (flags uint64, ok bool) {
	var regs unix.PtraceRegs
	if err := getRegs(parent.tid, &regs); err != nil {
		return 0, false
	}
	// The registers do not say which ABI the clone came through; a
	// 32-bit code segment, or i386's clone number (which is no clone on
	// x86-64), says i386.
	nr := int(regs.Orig_rax)
	a, arg0 := t.abi64, regs.Rdi
	if regs.Cs == user32CS || nr == t.abi32.Syscalls.Clone {
		a, arg0 = t.abi32, uint64(uint32(regs.Rbx))
	}
	switch nr {
	case a.Syscalls.Clone:
		return arg0, true
	case a.Syscalls.Clone3:
		m := t.memFor(parent)
		if m == nil {
			return 0, false
		}
		f, err := m.Load64(arg0) // struct clone_args { u64 flags; ... }
		if err != nil {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// onSeccomp handles a trapped syscall.
func (t *tracer) onSeccomp(tk *task) error {
	var info syscallInfo
	if err := getSyscallInfo(tk.tid, &info); err != nil || info.Op != syscallInfoSeccomp {
		return t.resume(tk, 0)
	}
	a, ok := t.abiFor(info.Arch)
	if !ok || tk.launching {
		return t.resume(tk, 0)
	}
	call := translator.Call{ABI: a, Nr: int(int32(info.Nr)), Args: info.Args}
	if a.Bits == abi.Bits32 {
		call.Nr = int(uint32(info.Nr))
	}
	if isWaitCall(a, call.Nr) {
		t.reapPending()
		return t.resume(tk, 0)
	}
	kind := call.Kind()
	if t.opts.Mode == ModeNative {
		t.noteSyscall(tk, call, kind, false, 0)
		if kind == translator.KindSetRobustList && call.Args[0] != 0 {
			t.shim.NoteHostList()
		}
		return t.resume(tk, 0)
	}
	switch {
	case kind == translator.KindGetRobustList && t.notAGuest(int32(call.Args[0])):
		// Another process's list, or a task that is gone but not reaped
		// (a zombie, whose list the kernel shows as NULL): the host
		// kernel knows these as the guest's kernel would.
		t.noteSyscall(tk, call, kind, false, 0)
		return t.resume(tk, 0)
	case kind.RobustList():
		res, handled := t.shim.Syscall(tk.tid, call, &shim.Env{Memory: t.memFor(tk), Waker: t.wakerFor(tk, nil)})
		t.noteSyscall(tk, call, kind, handled, int64(res))
		if handled {
			if err := setReturn(tk.tid, int64(res)); err != nil {
				return t.resume(tk, 0)
			}
		}
		return t.resume(tk, 0)
	case kind == translator.KindExit || kind == translator.KindExitGroup:
		if tk.walked {
			// The exit re-executed after fexrl injected futex wakes:
			// already reported.
			return t.resume(tk, 0)
		}
		t.noteSyscall(tk, call, kind, false, 0)
		cause := shim.CauseExit
		if kind == translator.KindExitGroup {
			cause = shim.CauseExitGroup
			for _, o := range t.tasks {
				if o.tgid == tk.tgid && !o.causeSet {
					o.exitCause, o.causeSet = shim.CauseExitGroup, true
				}
			}
		}
		tk.walked = true
		inj := &injector{t: t, tk: tk, abi: a}
		t.walk(tk, cause, inj, nil, nil)
		// The exit stop would only find an empty task.
		_ = unix.PtraceSetOptions(int(tk.tid), t.options&^unix.PTRACE_O_TRACEEXIT)
		if err := inj.finish(); err != nil {
			t.log.Warn("restoring a task after injecting futex wakes", zap.Int32("tid", tk.tid), zap.Error(err))
		}
		if inj.rewound {
			return nil // resumed by finish
		}
		return t.resume(tk, 0)
	case kind == translator.KindExecve || kind == translator.KindExecveat:
		t.noteSyscall(tk, call, kind, false, 0)
		return t.startExec(tk)
	case kind == translator.KindFutex:
		return t.robustUnlock(tk, call)
	}
	return t.resume(tk, 0)
}

// notAGuest reports whether pid names a task get_robust_list must ask the
// host kernel about: not the caller (0) and not a live guest task.
func (t *tracer) notAGuest(pid int32) bool {
	if pid == 0 {
		return false
	}
	_, known := t.shim.Registry().Lookup(pid)
	return !known
}

func (t *tracer) noteSyscall(tk *task, c translator.Call, k translator.Kind, handled bool, ret int64) {
	if t.opts.OnSyscall == nil {
		return
	}
	t.opts.OnSyscall(SyscallEvent{TID: tk.tid, ABI: c.ABI.Name, Nr: c.Nr, Name: k.String(), Args: c.Args, Handled: handled, Ret: ret})
}

// onExit walks the lists of a task that dies without having called exit
// itself: exit_group from another thread, a fatal signal, or exec's
// de_thread. The task's memory is still there during this stop.
func (t *tracer) onExit(tk *task) error {
	if tk.launching || t.opts.Mode == ModeNative || tk.walked {
		return t.resume(tk, 0)
	}
	cause := shim.CauseExitGroup
	if msg, err := getEventMsg(tk.tid); err == nil {
		ws := unix.WaitStatus(msg)
		if ws.Signaled() {
			cause = shim.CauseSignal
		}
	}
	if tk.causeSet && cause != shim.CauseSignal {
		cause = tk.exitCause
	}
	tk.walked = true
	// The task did not ask to die: it may have been inside a robust
	// unlock, which its registers tell.
	state, gpr := t.deathState(tk)
	t.walk(tk, cause, nil, state, gpr)
	return t.resume(tk, 0)
}

// taskABI says whether a task runs 32- or 64-bit code, from its code
// segment.
func (t *tracer) taskABI(tid int32) string {
	var r unix.PtraceRegs
	if err := getRegs(tid, &r); err != nil {
		return ""
	}
	if r.Cs == user32CS {
		return "x86_32"
	}
	return "x86_64"
}

// deathState reads a dying task's registers for the unlock-window check,
// and returns them as well, for the exit's TaskEvent: the check reads
// every register through them.
func (t *tracer) deathState(tk *task) (*translator.DeathState, *translator.Regs) {
	var r unix.PtraceRegs
	if err := getRegs(tk.tid, &r); err != nil {
		return nil, nil
	}
	gpr := gprOf(&r)
	st := &translator.DeathState{Mode: 64, IP: r.Rip, ThreadPointer: r.Fs_base, Flags: r.Eflags, Reg: gpr.Lookup}
	if r.Cs == user32CS {
		st.Mode = 32
		st.IP = uint64(uint32(r.Rip))
		base, err := segmentBase(tk.tid, uint16(r.Gs))
		if err != nil {
			return nil, nil
		}
		st.ThreadPointer = base
	}
	return st, gpr
}

// walk walks tk's lists through the shim, with the rest of its address
// space stopped as soon as a private futex word must be written, and
// reports the walks. state and gpr are the registers deathState read, or
// nil.
func (t *tracer) walk(tk *task, cause shim.Cause, inj *injector, state *translator.DeathState, gpr *translator.Regs) {
	wc := &walkContext{mm: tk.mm, self: tk}
	t.walkCtx = wc
	var mem robustlist2.Memory = t.worldMemFor(tk, wc)
	var capt *guestmem.Capture
	if t.opts.CaptureMemory {
		capt = guestmem.NewCapture(mem)
		mem = capt
	}
	env := &shim.Env{Memory: mem, Waker: t.walkWakerFor(tk, inj, wc)}
	walks := t.shim.TaskExited(tk.tid, shim.Death{Cause: cause, State: state}, env)
	t.resumeWorld(wc)
	t.walkCtx = nil
	t.reportWalks(tk, cause, walks, capt)
	if t.opts.OnTask != nil {
		ev := TaskEvent{Kind: "exit", TID: tk.tid, TGID: tk.tgid, Cause: cause.String(), Walks: walks}
		if capt != nil {
			ev.Memory = capt.Words()
		}
		if state != nil {
			ev.ABI = modeABI(state.Mode)
			ev.IP, ev.ThreadPointer = state.IP, state.ThreadPointer
			if sp, ok := state.Reg(x86asm.RSP); ok {
				ev.SP = sp
			}
			ev.GPR = gpr
		}
		t.opts.OnTask(ev)
	}
}

// reportWalks hands the walks of one death or exec to OnWalk.
func (t *tracer) reportWalks(tk *task, cause shim.Cause, walks []robustlist2.ListWalk, capt *guestmem.Capture) {
	if t.opts.OnWalk == nil {
		return
	}
	var words []MemWord
	if capt != nil {
		words = capt.Words()
	}
	for _, w := range walks {
		t.opts.OnWalk(WalkEvent{TID: tk.tid, TGID: tk.tgid, Cause: cause, Walk: w, Memory: words})
	}
}

func modeABI(mode int) string {
	if mode == 32 {
		return "x86_32"
	}
	return "x86_64"
}
