package trace

import (
	"errors"
	"fmt"
	"io"
	"math"

	"go.uber.org/zap"
	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// ReplayOptions configure a Replayer.
type ReplayOptions struct {
	// Logger receives the shim's logs; nil means none.
	Logger *zap.Logger
	// MaxDiffs caps the differences named per event; 0 means 16.
	MaxDiffs int
}

// Replayer replays the events of one trace through a shim.Shim (the
// translator's dispatch and robustlist2's registry and walker), on
// guestmem.Simulated memory seeded from each exit's recorded words and
// a guestmem.RecordingWaker seeded with the recorded waiters. It keeps
// the state of live tasks only, so a trace of any length replays in
// memory that follows the tasks alive at once and one exit's memory.
type Replayer struct {
	hdr      Header
	opts     ReplayOptions
	shim     *shim.Shim
	arch32   abi.Arch
	arch64   abi.Arch
	kinds32  *[kindTable]translator.Kind
	kinds64  *[kindTable]translator.Kind
	mem      recordedMemory
	sysMem   syscallMemory
	sysEnv   shim.Env
	exitEnv  shim.Env
	waker    guestmem.RecordingWaker
	seeded   []uint64 // addresses waiters or failures were set at
	step     Step
	end      End
	maxDiffs int
}

// Step is what replaying one event did. It belongs to the Replayer and
// is valid until the next call to Apply.
type Step struct {
	// Line is the event's line in the trace, and Event the event.
	Line  int64
	Event *Event

	// Syscall: the kind of syscall, and whether fexrl answered it in
	// replay (Handled) with Ret.
	Call    translator.Kind
	Handled bool
	Ret     int64
	// Unlock is a robust unlock (futex with FUTEX_ROBUST_UNLOCK) fexrl
	// performs for the guest, when Call is a futex and IsUnlock is set.
	Unlock   translator.RobustUnlock
	IsUnlock bool
	// Site is the decoded syscall site of Event.Code, or why it did
	// not decode.
	Site string
	// Stores are the words the syscall wrote to guest memory
	// (get_robust_list's answers).
	Stores []Store
	// Lists are the task's lists after a syscall that registers or
	// clears one, or those it still had at an exit without memory.
	Lists []robustlist2.IndexedSlot

	// Exit and exec: Known says the task was alive in replay; Walked
	// says its lists were walked (the event had memory); Walks are the
	// walks, Writes the words written and Wakes the wakes.
	Known  bool
	Walked bool
	Walks  []robustlist2.ListWalk
	Writes []guestmem.Write
	Wakes  []guestmem.WakeCall

	// Diffs name every way the replay differs from what the trace
	// recorded (answers, walks), at most ReplayOptions.MaxDiffs.
	Diffs []string
	// MoreDiffs counts the differences left out of Diffs.
	MoreDiffs int
}

// End is the state at the end of a replay.
type End struct {
	// Events counts the events replayed, by kind.
	Events  int64
	Tasks   int64
	Syscall int64
	Exits   int64
	Execs   int64
	// Stats are the shim's counters.
	Stats shim.Stats
	// Alive are the tasks still alive at the end, by TID, with their
	// lists.
	Alive []AliveTask
	// Diffs counts the differences found (see Step.Diffs), and
	// DiffEvents the events that had any.
	Diffs      int64
	DiffEvents int64
}

// AliveTask is a task still alive at the end of a replay.
type AliveTask struct {
	TID, TGID int32
	Lists     []robustlist2.IndexedSlot
}

// NewReplayer returns a replayer for a trace with header h.
func NewReplayer(h Header, opts ReplayOptions) *Replayer {
	cfg := shim.Config{
		Logger:           opts.Logger,
		ListLimit:        h.Config.ListLimit,
		NoRobustList2:    !h.Config.RobustList2,
		KernelUnlockRule: h.Config.KernelUnlockRule,
	}
	cfg.Walk.Unbounded = h.Config.Unbounded
	maxDiffs := opts.MaxDiffs
	if maxDiffs <= 0 {
		maxDiffs = 16
	}
	r := &Replayer{hdr: h, opts: opts, shim: shim.New(cfg), arch32: x86_32.Arch(), arch64: x86_64.Arch(), maxDiffs: maxDiffs}
	r.kinds32, r.kinds64 = kinds(r.arch32), kinds(r.arch64)
	r.sysEnv = shim.Env{Memory: &r.sysMem, Waker: noWaker{}}
	r.exitEnv = shim.Env{Memory: &r.mem, Waker: &r.waker}
	return r
}

// Shim returns the shim the replay runs on.
func (r *Replayer) Shim() *shim.Shim { return r.shim }

// kindTable covers the syscall numbers classified by table; others are
// classified one by one.
const kindTable = 512

// kinds classifies the syscall numbers below kindTable of an ABI.
func kinds(a abi.Arch) *[kindTable]translator.Kind {
	var t [kindTable]translator.Kind
	for nr := range t {
		t[nr] = translator.Classify(a, nr)
	}
	return &t
}

// kind classifies syscall nr of the ABI called name.
func (r *Replayer) kind(name string, nr int32) translator.Kind {
	t := r.kinds64
	if name == ABIx86_32 {
		t = r.kinds32
	}
	if nr >= 0 && nr < kindTable {
		return t[nr]
	}
	return translator.Classify(r.arch(name), int(nr))
}

func (r *Replayer) arch(name string) abi.Arch {
	if name == ABIx86_32 {
		return r.arch32
	}
	return r.arch64
}

func (r *Replayer) diff(format string, args ...any) {
	if len(r.step.Diffs) >= r.maxDiffs {
		r.step.MoreDiffs++
		return
	}
	r.step.Diffs = append(r.step.Diffs, fmt.Sprintf(format, args...))
}

// Apply replays one event read from line of the trace.
func (r *Replayer) Apply(line int64, e *Event) (*Step, error) {
	s := &r.step
	*s = Step{Line: line, Event: e, Stores: s.Stores[:0], Diffs: s.Diffs[:0], Lists: s.Lists[:0]}
	r.end.Events++
	var err error
	switch e.Kind {
	case KindTask:
		r.end.Tasks++
		if e.Parent == 0 {
			r.shim.TaskStarted(e.TID, e.TGID)
		} else {
			r.shim.TaskCreated(e.Parent, e.TID, e.TGID)
		}
	case KindSyscall:
		r.end.Syscall++
		r.syscall(e)
	case KindExit:
		r.end.Exits++
		err = r.exit(e)
	case KindExec:
		r.end.Execs++
		err = r.exec(e)
	default:
		err = fmt.Errorf("unknown event kind %d", e.Kind)
	}
	if err != nil {
		return nil, &LineError{Line: line, Err: err}
	}
	if n := len(s.Diffs) + s.MoreDiffs; n > 0 {
		r.end.Diffs += int64(n)
		r.end.DiffEvents++
	}
	return s, nil
}

func (r *Replayer) syscall(e *Event) {
	s := &r.step
	s.Call = r.kind(e.ABI, e.Nr)
	if len(e.Code) > 0 {
		r.site(e)
	}
	var call translator.Call
	if s.Call == translator.KindFutex || s.Call.RobustList() {
		call = translator.Call{ABI: r.arch(e.ABI), Nr: int(e.Nr), Args: e.Args}
	}
	switch {
	case s.Call.RobustList():
		r.sysMem = syscallMemory{fault: e.HasRet && e.Ret == -int64(unix.EFAULT), stores: s.Stores[:0]}
		res, handled := r.shim.Syscall(e.TID, call, &r.sysEnv)
		s.Handled, s.Ret, s.Stores = handled, int64(res), r.sysMem.stores
		if res >= 0 && (s.Call == translator.KindSetRobustList || s.Call == translator.KindSetRobustList2) {
			if t, ok := r.shim.Registry().Lookup(e.TID); ok {
				s.Lists = t.Lists()
			}
		}
	case s.Call == translator.KindFutex && translator.IsRobustUnlockOp(uint32(call.Args[1])):
		ru, plain, _, errno := translator.DecodeRobustUnlock(call)
		switch {
		case plain:
			// A plain futex call to the host: not fexrl's answer.
		case errno != 0:
			s.Handled, s.Ret = true, -int64(errno)
		default:
			// fexrl performs it; the result is the number of waiters
			// the host woke, which only the recorded answer knows.
			s.Unlock, s.IsUnlock = ru, true
			s.Handled, s.Ret = true, e.Ret
			if !e.HasRet {
				s.Ret = 0
			}
		}
	}
	if !s.Handled {
		if e.Handled {
			r.diff("recorded as answered by fexrl, but replay leaves it to the emulator")
		}
		return
	}
	if e.HasRet && e.Ret != s.Ret {
		r.diff("answer: recorded %s, replay %s", FormatRet(e.Ret), FormatRet(s.Ret))
	}
}

// site decodes the syscall instruction of e.
func (r *Replayer) site(e *Event) {
	s := &r.step
	mode := 64
	if e.ABI == ABIx86_32 {
		mode = 32
	}
	site, err := translator.DecodeSite(e.Code, mode)
	if err != nil && mode == 32 {
		// int $0x80 from 64-bit code is an i386 syscall too.
		if s64, err64 := translator.DecodeSite(e.Code, 64); err64 == nil && s64.ABI.Name == ABIx86_32 {
			site, err = s64, nil
		}
	}
	if err != nil {
		s.Site = "not a syscall site: " + err.Error()
		r.diff("the recorded code % x is not a syscall instruction", e.Code)
		return
	}
	s.Site = site.String()
	if site.ABI.Name != e.ABI {
		r.diff("the site %q makes %s syscalls, the event says %s", site.Text, site.ABI.Name, e.ABI)
	}
}

// death builds the shim's view of how e's task died: with the recorded
// general-purpose registers, the same ones the adapter had live (every
// register read through translator.Regs.Lookup); without them, the stack
// pointer only.
func death(e *Event) shim.Death {
	d := shim.Death{Cause: e.Cause}
	if !e.HasRegs {
		return d
	}
	st := &translator.DeathState{Mode: e.Regs.Mode, IP: e.Regs.IP, ThreadPointer: e.Regs.TP}
	if e.Regs.HasGPR {
		regs := e.Regs.GPR.Regs()
		st.Flags = regs.RFLAGS
		st.Reg = regs.Lookup
	} else {
		sp := e.Regs.SP
		st.Reg = func(reg x86asm.Reg) (uint64, bool) {
			if (reg == x86asm.RSP || reg == x86asm.ESP) && sp != 0 {
				return sp, true
			}
			return 0, false
		}
	}
	d.State = st
	return d
}

// env seeds the memory and the waker of one exit or exec.
func (r *Replayer) env(e *Event) (*shim.Env, *guestmem.RecordingWaker, error) {
	if e.words == nil {
		// An event that did not come from a Reader.
		ws := &wordSet{}
		if err := ws.build(e.Memory); err != nil {
			return nil, nil, fmt.Errorf("memory: %w", err)
		}
		e.words = ws
	}
	if err := r.mem.load(e.words); err != nil {
		return nil, nil, fmt.Errorf("seeding the recorded memory: %w", err)
	}
	// One waker for every exit: forget the last exit's waiters first.
	w := &r.waker
	w.Reset()
	for _, a := range r.seeded {
		w.AddWaiters(a, math.MinInt32)
		w.FailOn(a, nil)
	}
	r.seeded = r.seeded[:0]
	for _, wt := range e.Waiters {
		if wt.Fail != "" {
			w.FailOn(wt.Addr, errors.New(wt.Fail))
		}
		w.AddWaiters(wt.Addr, wt.N)
		r.seeded = append(r.seeded, wt.Addr)
	}
	return &r.exitEnv, w, nil
}

func (r *Replayer) exit(e *Event) error {
	s := &r.step
	t, known := r.shim.Registry().Lookup(e.TID)
	s.Known = known
	if !e.HasMemory {
		if known {
			s.Lists = t.Lists()
		}
		r.shim.Forget(e.TID)
		r.noWalk(e)
		return nil
	}
	env, w, err := r.env(e)
	if err != nil {
		return err
	}
	s.Walked = true
	s.Walks = r.shim.TaskExited(e.TID, death(e), env)
	r.finishWalks(e, w)
	return nil
}

func (r *Replayer) exec(e *Event) error {
	s := &r.step
	former := e.Former
	if former == 0 {
		former = e.TID
	}
	t, known := r.shim.Registry().Lookup(former)
	s.Known = known
	if former != e.TID {
		// The exec'ing thread took over the leader's TID; the leader's
		// own lists were walked at its exit.
		r.shim.Forget(e.TID)
	}
	if !e.HasMemory {
		if known {
			s.Lists = t.Lists()
		}
		r.shim.TaskExec(former, &shim.Env{Memory: &syscallMemory{fault: true}, Waker: noWaker{}})
		r.noWalk(e)
	} else {
		env, w, err := r.env(e)
		if err != nil {
			return err
		}
		s.Walked = true
		s.Walks = r.shim.TaskExec(former, env)
		r.finishWalks(e, w)
	}
	if former != e.TID {
		r.shim.Forget(former)
		r.shim.TaskStarted(e.TID, e.TGID)
	}
	return nil
}

// noWalk notes an exit or exec whose memory the trace lacks.
func (r *Replayer) noWalk(e *Event) {
	if e.HasWalks && len(e.Walks) > 0 {
		r.diff("the trace recorded %d walk(s) but not the memory to replay them", len(e.Walks))
	}
}

func (r *Replayer) finishWalks(e *Event, w *guestmem.RecordingWaker) {
	s := &r.step
	s.Writes = r.mem.sim.Writes()
	r.mem.sim.ClearWrites()
	s.Wakes = w.Calls()
	if e.HasWalks {
		r.compareWalks(e.Walks, s.Walks)
	}
}

// compareWalks names the differences between recorded and replayed walks.
func (r *Replayer) compareWalks(rec, got []robustlist2.ListWalk) {
	if len(rec) != len(got) {
		r.diff("walks: recorded %d list(s), replay %d", len(rec), len(got))
	}
	for i := 0; i < min(len(rec), len(got)); i++ {
		a, b := &rec[i], &got[i]
		name := robustlist2.SlotName(a.Index)
		if a.Index != b.Index {
			r.diff("walk %d: recorded list %s, replay list %s", i, name, robustlist2.SlotName(b.Index))
			continue
		}
		if a.Slot.Head != b.Slot.Head || a.Slot.Bits != b.Slot.Bits {
			r.diff("list %s: recorded %s head %#x, replay %s head %#x", name, a.Slot.Bits, a.Slot.Head, b.Slot.Bits, b.Slot.Head)
		}
		if a.Slot.Backend != b.Slot.Backend {
			r.diff("list %s: recorded back end %s, replay %s", name, a.Slot.Backend, b.Slot.Backend)
		}
		ra, rb := a.Report, b.Report
		if ra == nil || rb == nil {
			if (ra == nil) != (rb == nil) {
				r.diff("list %s: walked by fexrl in one and not the other (recorded %v, replay %v)", name, ra != nil, rb != nil)
			}
			continue
		}
		r.compareReports(name, ra, rb)
	}
}

func (r *Replayer) compareReports(name string, a, b *robustlist2.Report) {
	num := func(what string, x, y int64) {
		if x != y {
			r.diff("list %s: %s recorded %d, replay %d", name, what, x, y)
		}
	}
	num("futex_offset", a.FutexOffset, b.FutexOffset)
	if a.PendingNode != b.PendingNode {
		r.diff("list %s: pending recorded %#x, replay %#x", name, a.PendingNode, b.PendingNode)
	}
	if a.Stop != b.Stop {
		r.diff("list %s: stop recorded %s, replay %s", name, a.Stop, b.Stop)
	}
	num("visited", int64(a.Visited), int64(b.Visited))
	num("marked", int64(a.Marked), int64(b.Marked))
	num("woken", int64(a.Woken), int64(b.Woken))
	num("wake errors", int64(a.WakeErrors), int64(b.WakeErrors))
	if a.Truncated != b.Truncated {
		r.diff("list %s: truncated recorded %v, replay %v", name, a.Truncated, b.Truncated)
	}
	if len(a.Entries) != len(b.Entries) {
		r.diff("list %s: recorded %d entries, replay %d", name, len(a.Entries), len(b.Entries))
	}
	for i := 0; i < min(len(a.Entries), len(b.Entries)); i++ {
		x, y := &a.Entries[i], &b.Entries[i]
		if x.Node != y.Node || x.Word != y.Word || x.PI != y.PI || x.Pending != y.Pending {
			r.diff("list %s entry %d: recorded node %#x word %#x, replay node %#x word %#x", name, i, x.Node, x.Word, y.Node, y.Word)
			continue
		}
		if x.Action != y.Action {
			r.diff("list %s entry %d (word %#x): action recorded %s, replay %s", name, i, x.Word, x.Action, y.Action)
		}
		if x.Old != y.Old || x.New != y.New {
			r.diff("list %s entry %d (word %#x): recorded %#08x -> %#08x, replay %#08x -> %#08x", name, i, x.Word, x.Old, x.New, y.Old, y.New)
		}
		if x.Wakes != y.Wakes || x.Woken != y.Woken {
			r.diff("list %s entry %d (word %#x): recorded %d wake(s) waking %d, replay %d waking %d", name, i, x.Word, x.Wakes, x.Woken, y.Wakes, y.Woken)
		}
	}
}

// Finish returns the end state: counters and the tasks still alive.
func (r *Replayer) Finish() *End {
	r.end.Stats = r.shim.Stats()
	r.end.Alive = r.end.Alive[:0]
	for _, t := range r.shim.Registry().Tasks() {
		r.end.Alive = append(r.end.Alive, AliveTask{TID: t.TID(), TGID: t.TGID(), Lists: t.Lists()})
	}
	return &r.end
}

// Sink receives what a replay does: the header, each step, the end.
type Sink interface {
	Header(h Header) error
	Step(s *Step) error
	// End receives the end state and flushes.
	End(e *End) error
	// Flush writes out what is buffered (Replay calls it when it stops
	// on an error, so the output shows the steps before it).
	Flush() error
}

// Replay reads every event of rd, replays it and hands the steps to
// sink. progress, if not nil, is called now and then with the bytes and
// the events read so far. A malformed line stops the replay with a
// *LineError.
func Replay(rd *Reader, sink Sink, opts ReplayOptions, progress func(offset, events int64)) (*End, error) {
	r := NewReplayer(rd.Header(), opts)
	if err := sink.Header(rd.Header()); err != nil {
		return nil, err
	}
	fail := func(err error) (*End, error) {
		_ = sink.Flush()
		return nil, err
	}
	for n := int64(1); ; n++ {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		s, err := r.Apply(rd.Line(), e)
		if err != nil {
			return fail(err)
		}
		if err := sink.Step(s); err != nil {
			return fail(err)
		}
		if progress != nil && n&0xffff == 0 {
			progress(rd.Offset(), n)
		}
	}
	end := r.Finish()
	if progress != nil {
		progress(rd.Offset(), end.Events)
	}
	return end, sink.End(end)
}

// FormatRet formats a syscall return value: "0", "0x7f00" or
// "-38 (ENOSYS)".
func FormatRet(v int64) string {
	if v < 0 && v >= -translator.MaxErrno {
		if name := unix.ErrnoName(unix.Errno(-v)); name != "" {
			return fmt.Sprintf("%d (%s)", v, name)
		}
		return fmt.Sprintf("%d", v)
	}
	if v >= 0x10000 {
		return fmt.Sprintf("%#x", v)
	}
	return fmt.Sprintf("%d", v)
}
