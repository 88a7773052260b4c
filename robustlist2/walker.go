package robustlist2

import (
	"github.com/fexrl/fexrl/abi"
)

// PendingRule says how the walk treats list_op_pending. The kernel's rule
// is the default; the others are for a task that died inside an unlock,
// which only an emulator, knowing the task's instruction pointer, can tell.
type PendingRule uint8

// The pending-op rules.
const (
	// PendingKernel handles the pending op as the kernel does.
	PendingKernel PendingRule = iota
	// PendingWakeOnly wakes one waiter on the pending word (unless PI) and
	// never writes it: the task died after its unlock released the word
	// and before it cleared list_op_pending (glibc bug 14485). Whoever
	// chooses it must know the task was inside an unlock (see
	// translator.UnlockWindow): a task inside a lock holds the word. A
	// pending mutex that is still on the list is being locked, and gets
	// the kernel's rule.
	PendingWakeOnly
	// PendingCleared ignores the pending op, as the kernel's try-unlock
	// fixup does for a task interrupted after its release store.
	PendingCleared
)

// WalkOptions tunes one walk. The zero value is the kernel's walk.
type WalkOptions struct {
	// Limit is the number of list entries walked at most; 0 means
	// ROBUST_LIST_LIMIT (2048), as in the kernel.
	Limit int
	// Unbounded walks past Limit, stopping when Brent's cycle detection
	// (constant memory) finds the list loops, or at MaxEntries.
	Unbounded bool
	// MaxEntries bounds an unbounded walk; 0 means 1<<24.
	MaxEntries int
	// Pending selects the pending-op rule.
	Pending PendingRule
}

// DefaultReportCap is how many entries a walker records per report before
// it only counts.
const DefaultReportCap = 4096

// casRetries bounds the compare-and-swap retries on one word. The kernel
// retries forever; a word that changes this often under a stopped task is
// hostile, and fexrl reports it instead of spinning.
const casRetries = 1 << 16

// Walker walks robust lists. It keeps its report buffer between walks, so
// a warm walker does not allocate; a Walker is not safe for concurrent
// use (give each goroutine its own, or use a sync.Pool).
type Walker struct {
	report Report
	// ReportCap caps Report.Entries; 0 means DefaultReportCap.
	ReportCap int
}

// Walk runs the kernel's exit walk (kernel/futex/core.c exit_robust_list
// and compat_exit_robust_list) over the list whose head is at head, for
// the dying task tid. It reads and writes only through mem and wakes only
// through waker. The returned report belongs to w and is valid until the
// next call; use Report.Clone to keep it.
func (w *Walker) Walk(mem Memory, waker Waker, head uint64, bits abi.Bits, tid uint32, opts WalkOptions) *Report {
	r := &w.report
	*r = Report{Head: head, Bits: bits, TID: tid, Entries: r.Entries[:0]}
	if head == 0 {
		r.Stop = StopNoHead
		return r
	}
	if s, ok := mem.(WalkSessioner); ok {
		if sm, end := s.WalkSession(); sm != nil {
			if fast, ok := sm.(Memory); ok {
				defer end()
				defer recoverFault(r)
				mem = fast
			} else {
				end()
			}
		}
	}
	w.walk(mem, waker, head, bits, tid, opts)
	return r
}

// recoverFault turns a memory fault that a WalkSessioner memory let
// through into a fault stop of the walk; any other panic goes on.
func recoverFault(r *Report) {
	e := recover()
	if e == nil {
		return
	}
	if re, ok := e.(interface {
		error
		Addr() uintptr
	}); ok && re != nil {
		r.Stop = StopWordFault
		return
	}
	panic(e)
}

// walk is Walk's body; w.report is the report.
func (w *Walker) walk(mem Memory, waker Waker, head uint64, bits abi.Bits, tid uint32, opts WalkOptions) {
	r := &w.report
	reportCap := w.ReportCap
	if reportCap <= 0 {
		reportCap = DefaultReportCap
	}
	lay := bits.Head()
	h := handler{mem: mem, waker: waker, tid: tid, r: r, cap: reportCap}

	// 1. The head: first entry, futex_offset, pending op. Any fault ends
	// the walk with nothing done.
	first, err := loadPtr(mem, bits, head+lay.Next)
	if err != nil {
		r.Stop = StopHeadFault
		return
	}
	var offset uint64
	if bits == abi.Bits32 {
		o, err := mem.Load32(head + lay.FutexOffset)
		if err != nil {
			r.Stop = StopHeadFault
			return
		}
		r.FutexOffset = int64(int32(o))
		offset = uint64(o)
	} else {
		o, err := mem.Load64(head + lay.FutexOffset)
		if err != nil {
			r.Stop = StopHeadFault
			return
		}
		r.FutexOffset = int64(o)
		offset = o
	}
	pendingRaw, err := loadPtr(mem, bits, head+lay.ListOpPending)
	if err != nil {
		r.Stop = StopHeadFault
		return
	}
	pending, pendingPI := pendingRaw&^1, pendingRaw&1 != 0
	r.PendingNode = pending

	limit := opts.Limit
	if limit <= 0 {
		limit = abi.RobustListLimit
	}
	maxEntries := opts.MaxEntries
	if maxEntries <= 0 {
		maxEntries = 1 << 24
	}
	// Brent's cycle detection for unbounded walks.
	tortoise, power, lam := head, 1, 0

	// 2. The list. The list head itself is the terminator.
	entry, pi := first&^1, first&1 != 0
	pendingOnList := false
	r.Stop = StopEnd
	for entry != head {
		next, nextErr := loadPtr(mem, bits, entry)
		if entry != pending {
			if stop, ok := h.death(entry, futexAddr(bits, entry, offset), pi, false); !ok {
				r.Visited++
				r.Stop = stop
				return
			}
		} else {
			pendingOnList = true
			h.record(Entry{Node: entry, Word: futexAddr(bits, entry, offset), PI: pi, Action: ActionSkipped})
		}
		r.Visited++
		if nextErr != nil {
			r.Stop = StopNextFault
			return
		}
		entry, pi = next&^1, next&1 != 0
		if opts.Unbounded {
			if entry == tortoise {
				r.Stop = StopCycle
				break
			}
			lam++
			if lam == power {
				tortoise, power, lam = entry, power*2, 0
			}
			if r.Visited >= maxEntries && entry != head {
				r.Stop = StopLimit
				break
			}
		} else if r.Visited >= limit {
			if entry != head {
				r.Stop = StopLimit
			}
			break
		}
	}

	// 3. The pending op.
	if pending != 0 {
		word := futexAddr(bits, pending, offset)
		switch opts.Pending {
		case PendingCleared:
			h.record(Entry{Node: pending, Word: word, PI: pendingPI, Pending: true, Action: ActionPendingCleared})
		case PendingWakeOnly:
			if pendingOnList {
				// An unlock takes the mutex off the list before it
				// releases the word: a pending mutex still on the list is
				// being locked (or held), so the kernel's rule applies.
				h.death(pending, word, pendingPI, true)
			} else {
				h.unlockWindow(pending, word, pendingPI)
			}
		default:
			// The kernel ignores a failure here: the walk is over anyway.
			h.death(pending, word, pendingPI, true)
		}
	}
}

// loadPtr reads a list pointer of the list's width, zero-extended.
func loadPtr(mem Memory, bits abi.Bits, addr uint64) (uint64, error) {
	if bits == abi.Bits32 {
		v, err := mem.Load32(addr)
		return uint64(v), err
	}
	return mem.Load64(addr)
}

// futexAddr is node + futex_offset. A 32-bit list computes it in 32 bits,
// as the kernel's compat walk does (compat_ptr(ptr_to_compat(entry) +
// futex_offset)); a 64-bit list wraps at 64 bits.
func futexAddr(bits abi.Bits, node, offset uint64) uint64 {
	if bits == abi.Bits32 {
		return uint64(uint32(node) + uint32(offset))
	}
	return node + offset
}

// handler carries one walk's state for the per-word handling.
type handler struct {
	mem     Memory
	waker   Waker
	tid     uint32
	r       *Report
	cap     int
	scratch Entry
}

func (h *handler) record(e Entry) { *h.entry() = e }

// entry returns where the next entry of the report goes: the end of
// Entries, grown by one, or a scratch entry once the report is capped.
func (h *handler) entry() *Entry {
	n := len(h.r.Entries)
	if n >= h.cap {
		h.r.Truncated = true
		return &h.scratch
	}
	if n < cap(h.r.Entries) {
		h.r.Entries = h.r.Entries[:n+1]
	} else {
		h.r.Entries = append(h.r.Entries, Entry{})
	}
	return &h.r.Entries[n]
}

func (h *handler) wake(e *Entry) {
	e.Wakes = 1
	n, err := h.waker.Wake(e.Word, 1)
	if err != nil {
		e.Woken = -1
		h.r.WakeErrors++
		return
	}
	e.Woken = n
	h.r.Woken += n
}

// death is the kernel's handle_futex_death for the word at word. It
// returns false, with the reason, when the walk must stop.
func (h *handler) death(node, word uint64, pi, pending bool) (StopReason, bool) {
	e := h.entry()
	*e = Entry{Node: node, Word: word, PI: pi, Pending: pending}
	if word%4 != 0 {
		e.Action = ActionMisaligned
		return StopMisaligned, false
	}
	for try := 0; ; try++ {
		uval, err := h.mem.Load32(word)
		if err != nil {
			e.Action = ActionFault
			return StopWordFault, false
		}
		e.Old, e.New = uval, uval
		owner := uval & abi.FutexTIDMask
		if pending && !pi && owner == 0 {
			// The unlocker released the word and died before waking:
			// wake one waiter so it does not sleep forever.
			e.Action = ActionWakeOnly
			h.wake(e)
			return StopEnd, true
		}
		if owner != h.tid {
			e.Action = ActionNotOwner
			return StopEnd, true
		}
		if try == casRetries {
			e.Action = ActionContended
			return StopContended, false
		}
		mval := uval&abi.FutexWaiters | abi.FutexOwnerDied
		prev, err := h.mem.CompareAndSwap32(word, uval, mval)
		if err != nil {
			e.Action = ActionFault
			return StopWordFault, false
		}
		if prev != uval {
			continue
		}
		e.New = mval
		e.Action = ActionMarked
		h.r.Marked++
		// PI waiters are woken by the kernel's PI-state cleanup, not here.
		if !pi && uval&abi.FutexWaiters != 0 {
			h.wake(e)
		}
		return StopEnd, true
	}
}

// unlockWindow handles a pending op whose unlock had already released the
// word: wake one waiter (never for PI, whose waiters the kernel hands
// over itself), write nothing — the word may be reused memory that
// happens to hold the task's TID. The word is read only for the report.
func (h *handler) unlockWindow(node, word uint64, pi bool) {
	e := Entry{Node: node, Word: word, PI: pi, Pending: true, Action: ActionUnlockWindow}
	if v, err := h.mem.Load32(word); err == nil {
		e.Old, e.New = v, v
	}
	if !pi && word%4 == 0 {
		h.wake(&e)
	}
	h.record(e)
}
