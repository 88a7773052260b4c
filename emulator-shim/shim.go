// Package shim is what an emulator links to give its x86 and x86-64
// guests robust futexes: one object, called at the points an emulator
// already has — a guest syscall, a guest task created, exec'd, exiting or
// killed — that answers the robust-list syscalls, walks the dying task's
// lists with the kernel's semantics, and reports what it did.
//
// The shim never blocks on anything but the guest's own memory, is safe
// for concurrent use by every guest thread, and logs through zap.
package shim

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/translator"
)

// Config configures a Shim.
type Config struct {
	// Logger receives structured logs; nil means none.
	Logger *zap.Logger
	// Memory and Waker reach the guest's memory and futexes. An emulator
	// that shares the guest's address space sets them once (see
	// robustlist2/guestmem); callers with one memory per guest process
	// (the ptrace adapter) pass an Env to each call instead.
	Memory robustlist2.Memory
	Waker  robustlist2.Waker
	// ListLimit is the number of set_robust_list2 lists per task; 0 means
	// the proposal's limit.
	ListLimit int
	// Placer picks each list's host back end (see
	// robustlist2.HostPlacer); nil means fexrl walks every list itself.
	Placer robustlist2.Placer
	// NoRobustList2 makes set_robust_list2 and get_robust_list2 answer
	// ENOSYS, as a kernel without the proposal does.
	NoRobustList2 bool
	// Walk are the default walk options (e.g. Unbounded).
	Walk robustlist2.WalkOptions
	// KernelUnlockRule keeps the kernel's pending-op rule also for a task
	// that died inside a robust unlock, after the release (glibc bug
	// 14485: the kernel may then write FUTEX_OWNER_DIED into reused
	// memory). By default fexrl only wakes a waiter there. The try-unlock
	// fixup (RegisterTryUnlock) is the kernel's own rule and always holds.
	KernelUnlockRule bool
	// OnWalk, if set, hears every list walk (exit and exec), after the
	// counters are updated. It is called on the thread that reported the
	// death; it must not call back into the shim for the same task.
	OnWalk func(tid int32, cause Cause, w robustlist2.ListWalk)
}

// Env is the memory and futex waker of one guest process, for callers
// that do not share one address space with every guest.
type Env struct {
	Memory robustlist2.Memory
	Waker  robustlist2.Waker
}

// Cause says why a task's lists are walked.
type Cause uint8

// The causes of a walk.
const (
	// CauseExit: the task called exit.
	CauseExit Cause = iota
	// CauseExitGroup: its thread group called exit_group.
	CauseExitGroup
	// CauseSignal: a fatal signal killed it.
	CauseSignal
	// CauseExec: it called execve (the lists are walked, then cleared).
	CauseExec
	// CauseUnknown: it died and the caller does not know how.
	CauseUnknown
)

// String returns "exit", "exit_group", "signal", "exec" or "unknown".
func (c Cause) String() string {
	switch c {
	case CauseExit:
		return "exit"
	case CauseExitGroup:
		return "exit_group"
	case CauseSignal:
		return "signal"
	case CauseExec:
		return "exec"
	}
	return "unknown"
}

// MarshalText makes JSON print the name.
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Stats are the shim's counters since it was made.
type Stats struct {
	Tasks           int64 `json:"tasks"`
	ListsRegistered int64 `json:"lists_registered"`
	Walks           int64 `json:"walks"`
	EntriesWalked   int64 `json:"entries_walked"`
	OwnerDiedMarked int64 `json:"owner_died_marked"`
	Woken           int64 `json:"woken"`
	WakeErrors      int64 `json:"wake_errors"`
	LimitHits       int64 `json:"limit_hits"`
	WalkFaults      int64 `json:"walk_faults"`
	UnknownTasks    int64 `json:"unknown_tasks"`
	HostWalked      int64 `json:"host_walked_lists"`
	UnlockWindows   int64 `json:"unlock_windows"`
}

type counters struct {
	tasks, lists, walks, entries, marked, woken, wakeErrors, limitHits, faults, unknown, host, unlockWindows atomic.Int64
}

// Shim is the robust-futex layer of one emulator.
type Shim struct {
	cfg  Config
	log  *zap.Logger
	reg  *robustlist2.Registry
	disp translator.Dispatcher
	n    counters

	mu        sync.Mutex
	tryUnlock map[int32][]placedTryUnlock // by thread group
}

// placedTryUnlock is a try-unlock function an emulator put in a guest
// process's vDSO.
type placedTryUnlock struct {
	base uint64
	code translator.TryUnlock
}

// RegisterTryUnlock tells fexrl that the emulator placed the try-unlock
// function code (see translator.TryUnlockCode) at guest address base in
// the vDSO of thread group tgid. A thread of that group that dies inside
// the function's fixup range after its compare-and-swap succeeded has its
// pending op treated as already cleared, as the kernel's fixup does.
func (s *Shim) RegisterTryUnlock(tgid int32, base uint64, code translator.TryUnlock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tryUnlock == nil {
		s.tryUnlock = map[int32][]placedTryUnlock{}
	}
	s.tryUnlock[tgid] = append(s.tryUnlock[tgid], placedTryUnlock{base, code})
}

// ForgetProcess drops what fexrl knows about thread group tgid's address
// space (its try-unlock functions), after an exec or its end.
func (s *Shim) ForgetProcess(tgid int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tryUnlock, tgid)
}

// fixupPop returns the pending slot a thread of tgid was clearing when it
// died inside a try-unlock fixup range, if it was.
func (s *Shim) fixupPop(tgid int32, st translator.DeathState) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.tryUnlock[tgid] {
		if pop, ok := p.code.InFixup(p.base, st); ok {
			return pop, true
		}
	}
	return 0, false
}

// New returns a shim with no tasks.
func New(cfg Config) *Shim {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	reg := robustlist2.NewRegistry(robustlist2.Config{ListLimit: cfg.ListLimit, Placer: cfg.Placer})
	return &Shim{
		cfg:  cfg,
		log:  log,
		reg:  reg,
		disp: translator.Dispatcher{Registry: reg, NoRobustList2: cfg.NoRobustList2},
	}
}

// Registry exposes the task registry (for reports and tests).
func (s *Shim) Registry() *robustlist2.Registry { return s.reg }

// Stats returns the counters.
func (s *Shim) Stats() Stats {
	return Stats{
		Tasks:           s.n.tasks.Load(),
		ListsRegistered: s.n.lists.Load(),
		Walks:           s.n.walks.Load(),
		EntriesWalked:   s.n.entries.Load(),
		OwnerDiedMarked: s.n.marked.Load(),
		Woken:           s.n.woken.Load(),
		WakeErrors:      s.n.wakeErrors.Load(),
		LimitHits:       s.n.limitHits.Load(),
		WalkFaults:      s.n.faults.Load(),
		UnknownTasks:    s.n.unknown.Load(),
		HostWalked:      s.n.host.Load(),
		UnlockWindows:   s.n.unlockWindows.Load(),
	}
}

func (s *Shim) env(e *Env) (robustlist2.Memory, robustlist2.Waker, error) {
	if e != nil && e.Memory != nil && e.Waker != nil {
		return e.Memory, e.Waker, nil
	}
	if s.cfg.Memory == nil || s.cfg.Waker == nil {
		return nil, nil, fmt.Errorf("shim: no guest memory configured and none passed")
	}
	return s.cfg.Memory, s.cfg.Waker, nil
}

// TaskStarted registers a guest task that fexrl did not see being
// created (the first task of the guest).
func (s *Shim) TaskStarted(tid, tgid int32) {
	s.n.tasks.Add(1)
	if _, old := s.reg.Add(tid, tgid); old != nil {
		s.log.Warn("task started with a TID fexrl still knew; forgetting the old one", zap.Int32("tid", tid))
	}
	s.log.Debug("task started", zap.Int32("tid", tid), zap.Int32("tgid", tgid))
}

// TaskCreated registers child, made by clone, fork or vfork in parent;
// it starts with no robust lists, as in the kernel (the guest's libc
// registers one again). childTGID is the child's thread group: the
// parent's for CLONE_THREAD, the child's own TID otherwise.
func (s *Shim) TaskCreated(parent, child, childTGID int32) {
	s.n.tasks.Add(1)
	if _, ok := s.reg.Lookup(parent); !ok {
		s.n.unknown.Add(1)
		s.log.Info("clone from a task fexrl did not know", zap.Int32("parent", parent), zap.Int32("child", child))
	}
	if _, old := s.reg.Add(child, childTGID); old != nil {
		s.log.Warn("new task reuses a TID fexrl still knew; forgetting the old one", zap.Int32("tid", child))
	}
	s.log.Debug("task created", zap.Int32("parent", parent), zap.Int32("tid", child), zap.Int32("tgid", childTGID))
}

// task returns tid's task, registering it if the shim has not seen it
// (an emulator that attached late, or a missed clone): the syscall still
// gets the kernel's answer.
func (s *Shim) task(tid int32) *robustlist2.Task {
	if t, ok := s.reg.Lookup(tid); ok {
		return t
	}
	s.n.unknown.Add(1)
	s.n.tasks.Add(1)
	s.log.Info("syscall from a task fexrl did not know; registering it", zap.Int32("tid", tid))
	t, _ := s.reg.Add(tid, tid)
	return t
}

// Syscall offers the guest syscall c made by task tid to the shim. If
// handled, the emulator must not perform the syscall and must return res
// to the guest; otherwise it performs the syscall as it normally would.
// Only the robust-list syscalls are handled; the lifecycle syscalls are
// the emulator's to perform and to report with TaskCreated, TaskExec and
// TaskExited.
func (s *Shim) Syscall(tid int32, c translator.Call, e *Env) (res translator.Result, handled bool) {
	k := c.Kind()
	if !k.RobustList() {
		return 0, false
	}
	mem, _, err := s.env(e)
	t := s.task(tid)
	if err != nil && (k == translator.KindGetRobustList || k == translator.KindGetRobustList2) {
		s.log.Error("get_robust_list with no guest memory", zap.Error(err))
		return translator.Result(-14), true // EFAULT
	}
	res, handled = s.disp.Handle(t, c, mem)
	if handled && res >= 0 && registers(c, k) {
		s.n.lists.Add(1)
	}
	if s.log.Core().Enabled(zap.DebugLevel) {
		s.logSyscall(tid, c, k, res)
	}
	return res, handled
}

// logSyscall logs one robust-list syscall at debug level. It takes its
// own copy of the arguments, so Syscall's c stays off the heap when
// debug logging is off.
func (s *Shim) logSyscall(tid int32, c translator.Call, k translator.Kind, res translator.Result) {
	args := c.Args
	s.log.Debug("robust-list syscall", zap.Int32("tid", tid), zap.String("abi", c.ABI.Name),
		zap.Stringer("syscall", k), zap.Uint64s("args", args[:4]), zap.Int64("ret", int64(res)))
}

// registers reports whether a successful call c puts a new list in place.
func registers(c translator.Call, k translator.Kind) bool {
	switch k {
	case translator.KindSetRobustList:
		return c.Args[0] != 0
	case translator.KindSetRobustList2:
		cmd := abi.RobustListCmd(uint32(c.Args[1]))
		return cmd == abi.RobustListCmdCreate32 || cmd == abi.RobustListCmdCreate64
	}
	return false
}

// TaskExec walks tid's lists as execve does, then clears them; the task
// keeps its TID. Call it once the exec is certain to happen (or has
// happened while the old memory is still reachable through e).
func (s *Shim) TaskExec(tid int32, e *Env) []robustlist2.ListWalk {
	mem, waker, err := s.env(e)
	if err != nil {
		s.log.Error("exec walk impossible", zap.Int32("tid", tid), zap.Error(err))
		return nil
	}
	walks, ok := s.reg.Exec(tid, mem, waker, s.deathOptions(tid, Death{Cause: CauseExec}, mem))
	if !ok {
		return nil
	}
	s.account(tid, CauseExec, walks)
	return walks
}

// Death describes how a task ended.
type Death struct {
	// Cause says why.
	Cause Cause
	// State is the task's registers at its death, if known. For a death
	// the task did not ask for (a signal, another thread's exit_group),
	// fexrl reads the code at State.IP to find out whether the task died
	// inside a robust unlock after releasing the word, and then only
	// wakes a waiter on the pending word instead of marking it.
	State *translator.DeathState
	// Code reads the task's code; nil means through the guest memory.
	Code translator.CodeReader
}

// TaskExited walks every list of tid (the ones the host kernel does not
// walk itself) and forgets the task. A task reported dead twice, or never
// known, is logged and ignored.
func (s *Shim) TaskExited(tid int32, d Death, e *Env) []robustlist2.ListWalk {
	mem, waker, err := s.env(e)
	if err != nil {
		s.log.Error("exit walk impossible", zap.Int32("tid", tid), zap.Error(err))
		s.reg.Remove(tid)
		return nil
	}
	walks, ok := s.reg.Exit(tid, mem, waker, s.deathOptions(tid, d, mem))
	if !ok {
		s.log.Debug("exit of a task fexrl does not know (already gone?)", zap.Int32("tid", tid), zap.Stringer("cause", d.Cause))
		return nil
	}
	s.account(tid, d.Cause, walks)
	return walks
}

// deathOptions picks each list's walk options: the configured ones, with
// the unlock-window rule for a list whose unlock the task died in.
func (s *Shim) deathOptions(tid int32, d Death, mem robustlist2.Memory) robustlist2.Death {
	opts := s.cfg.Walk
	if d.State == nil || d.Cause == CauseExit || d.Cause == CauseExec {
		// A task that called exit or execve itself was in that syscall,
		// not inside an unlock or a try-unlock: its registers say nothing
		// (and reading its code would cost an emulator's client round
		// trips for nothing).
		return robustlist2.Death{Options: func(int, robustlist2.Slot) robustlist2.WalkOptions { return opts }}
	}
	code := d.Code
	if code == nil {
		code = memCode{mem}
	}
	st := *d.State
	var fixPop uint64
	var inFixup bool
	if t, ok := s.reg.Lookup(tid); ok {
		fixPop, inFixup = s.fixupPop(t.TGID(), st)
	}
	return robustlist2.Death{Options: func(index int, slot robustlist2.Slot) robustlist2.WalkOptions {
		o := opts
		if inFixup && fixPop == slot.Head+slot.Bits.Head().ListOpPending {
			// The kernel's try-unlock fixup clears this pending op.
			o.Pending = robustlist2.PendingCleared
			s.log.Info("task died inside a try-unlock after releasing the word: its pending op counts as cleared",
				zap.Int32("tid", tid), zap.String("list", robustlist2.SlotName(index)), zap.Uint64("ip", st.IP))
			return o
		}
		if s.cfg.KernelUnlockRule {
			return o
		}
		v := translator.UnlockWindow(code, st, slot.Head, slot.Bits.PtrSize())
		if v.InWindow {
			o.Pending = robustlist2.PendingWakeOnly
			s.n.unlockWindows.Add(1)
			s.log.Info("task died inside a robust unlock after releasing the word: its pending op is only woken, never written",
				zap.Int32("tid", tid), zap.String("list", robustlist2.SlotName(index)), zap.Uint64("ip", st.IP), zap.String("why", v.Reason))
		}
		return o
	}}
}

// memCode reads code through guest memory.
type memCode struct{ mem robustlist2.Memory }

func (c memCode) ReadCode(addr uint64, b []byte) (int, error) {
	n := 0
	for n+4 <= len(b) {
		v, err := c.mem.Load32(addr + uint64(n))
		if err != nil {
			if n == 0 {
				return 0, err
			}
			return n, nil
		}
		b[n], b[n+1], b[n+2], b[n+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		n += 4
	}
	return n, nil
}

// NoteHostList counts a list the guest registered with the host kernel
// directly (a caller that passes the syscall through, like the ptrace
// adapter's native mode), so Stats stays comparable.
func (s *Shim) NoteHostList() { s.n.lists.Add(1) }

// Forget drops tid without walking (a task that fexrl knows is gone and
// whose memory is unreachable).
func (s *Shim) Forget(tid int32) { s.reg.Remove(tid) }

func (s *Shim) account(tid int32, cause Cause, walks []robustlist2.ListWalk) {
	for _, w := range walks {
		s.count(tid, cause, w)
		if s.cfg.OnWalk != nil {
			s.cfg.OnWalk(tid, cause, w)
		}
	}
}

func (s *Shim) count(tid int32, cause Cause, w robustlist2.ListWalk) {
	r := w.Report
	if r == nil {
		s.n.host.Add(1)
		s.log.Info("list walked by the host kernel", zap.Int32("tid", tid), zap.Stringer("backend", w.Slot.Backend))
		return
	}
	s.n.walks.Add(1)
	s.n.entries.Add(int64(r.Visited))
	s.n.marked.Add(int64(r.Marked))
	s.n.woken.Add(int64(r.Woken))
	s.n.wakeErrors.Add(int64(r.WakeErrors))
	switch r.Stop {
	case robustlist2.StopLimit:
		s.n.limitHits.Add(1)
		s.log.Warn("robust list longer than the walk limit: the rest was not walked (the kernel stops here too, silently)",
			zap.Int32("tid", tid), zap.Uint64("head", r.Head), zap.Int("visited", r.Visited))
	case robustlist2.StopHeadFault, robustlist2.StopNextFault, robustlist2.StopMisaligned, robustlist2.StopWordFault, robustlist2.StopContended:
		s.n.faults.Add(1)
		s.log.Info("robust list walk stopped early", zap.Int32("tid", tid), zap.Uint64("head", r.Head), zap.Stringer("stop", r.Stop))
	}
	if r.Marked > 0 || r.Woken > 0 {
		s.log.Info("robust list walked", zap.Int32("tid", tid), zap.Stringer("cause", cause), zap.String("list", robustlist2.SlotName(w.Index)),
			zap.Int("marked", r.Marked), zap.Int("woken", r.Woken))
	}
}
