package robustlist2

import (
	"fmt"

	"github.com/fexrl/fexrl/abi"
)

// StopReason says why a walk ended.
type StopReason uint8

// The ways a walk ends. Only StopEnd and StopLimit reach the pending op;
// every other reason ends the walk where it stands, as the kernel does.
const (
	// StopEnd: the list led back to its head.
	StopEnd StopReason = iota
	// StopLimit: the walk visited its entry limit (ROBUST_LIST_LIMIT by
	// default) and the list went on. The kernel stops here silently;
	// fexrl reports it.
	StopLimit
	// StopCycle: an unbounded walk found that the list loops.
	StopCycle
	// StopHeadFault: the head (next, futex_offset or list_op_pending)
	// could not be read; nothing was done.
	StopHeadFault
	// StopNextFault: an entry's next pointer could not be read; that
	// entry itself was still handled.
	StopNextFault
	// StopMisaligned: an entry's futex word is not 4-byte aligned.
	StopMisaligned
	// StopWordFault: an entry's futex word could not be read or written.
	StopWordFault
	// StopContended: the futex word kept changing under the
	// compare-and-swap (another writer raced every retry).
	StopContended
	// StopNoHead: the slot had no head registered; nothing to walk.
	StopNoHead
)

// String returns a short name such as "end" or "limit".
func (s StopReason) String() string {
	switch s {
	case StopEnd:
		return "end"
	case StopLimit:
		return "limit"
	case StopCycle:
		return "cycle"
	case StopHeadFault:
		return "head-fault"
	case StopNextFault:
		return "next-fault"
	case StopMisaligned:
		return "misaligned-word"
	case StopWordFault:
		return "word-fault"
	case StopContended:
		return "contended"
	case StopNoHead:
		return "no-head"
	}
	return fmt.Sprintf("StopReason(%d)", uint8(s))
}

// MarshalText makes reports print the name in JSON.
func (s StopReason) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Action is what the walker did with one futex word.
type Action uint8

// The outcomes of handling one futex word.
const (
	// ActionNotOwner: the word's TID is not the dying task's; untouched.
	ActionNotOwner Action = iota
	// ActionMarked: the word held the dying task's TID and now holds
	// FUTEX_OWNER_DIED (plus FUTEX_WAITERS if it had it).
	ActionMarked
	// ActionWakeOnly: the pending op's word had no owner (the unlocker
	// died between release and wake); one waiter was woken, nothing written.
	ActionWakeOnly
	// ActionSkipped: the entry is also the pending op, handled once, as
	// the pending op, at the end.
	ActionSkipped
	// ActionMisaligned: the word is not 4-byte aligned; the walk stops.
	ActionMisaligned
	// ActionFault: the word could not be read or written; the walk stops.
	ActionFault
	// ActionUnlockWindow: the pending op belongs to an unlock the task was
	// inside when it died (its word was already released); fexrl only
	// wakes a waiter and never writes the word, which may already be
	// reused memory (glibc bug 14485).
	ActionUnlockWindow
	// ActionPendingCleared: the task died inside a try-unlock sequence
	// after the word was released; as the kernel's fixup does, the pending
	// op is treated as already cleared.
	ActionPendingCleared
	// ActionContended: the compare-and-swap kept failing; the walk stops.
	ActionContended
)

// String returns a short name such as "owner-died".
func (a Action) String() string {
	switch a {
	case ActionNotOwner:
		return "not-owner"
	case ActionMarked:
		return "owner-died"
	case ActionWakeOnly:
		return "wake-only"
	case ActionSkipped:
		return "skipped-pending"
	case ActionMisaligned:
		return "misaligned"
	case ActionFault:
		return "fault"
	case ActionUnlockWindow:
		return "unlock-window-wake-only"
	case ActionPendingCleared:
		return "pending-cleared"
	case ActionContended:
		return "contended"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// MarshalText makes reports print the name in JSON.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Entry is what the walker did at one list entry or at the pending op.
type Entry struct {
	// Node is the address of the struct robust_list node.
	Node uint64 `json:"node"`
	// Word is the address of its futex word (node + futex_offset).
	Word uint64 `json:"word"`
	// PI is the entry's PI bit (bit 0 of the pointer that led to it).
	PI bool `json:"pi,omitempty"`
	// Pending marks the list_op_pending entry.
	Pending bool `json:"pending,omitempty"`
	// Action is what happened.
	Action Action `json:"action"`
	// Old is the word as read (valid unless the read faulted).
	Old uint32 `json:"old"`
	// New is the word as written (equal to Old when nothing was written).
	New uint32 `json:"new"`
	// Woken is how many waiters the wake reported; -1 if the wake failed.
	Woken int `json:"woken"`
	// Wakes counts wake calls made for this entry (0 or 1).
	Wakes int `json:"wakes"`
}

// Report is the record of one list walk.
type Report struct {
	// Head is the address of the robust_list_head.
	Head uint64 `json:"head"`
	// Bits is the list's pointer width.
	Bits abi.Bits `json:"bits"`
	// TID is the dying task's thread ID as the guest sees it.
	TID uint32 `json:"tid"`
	// FutexOffset is the head's futex_offset, sign-extended.
	FutexOffset int64 `json:"futex_offset"`
	// PendingNode is list_op_pending without its PI bit (0 if none).
	PendingNode uint64 `json:"pending_node"`
	// Entries are the handled entries in walk order, then the pending op.
	// A walk that records more than the walker's report cap keeps the
	// first ones and sets Truncated; the counts below stay exact.
	Entries []Entry `json:"entries"`
	// Truncated says Entries was capped.
	Truncated bool `json:"truncated,omitempty"`
	// Stop says why the walk ended.
	Stop StopReason `json:"stop"`
	// Visited counts list entries visited (not the pending op).
	Visited int `json:"visited"`
	// Marked counts words set to FUTEX_OWNER_DIED.
	Marked int `json:"marked"`
	// Woken counts waiters woken.
	Woken int `json:"woken"`
	// WakeErrors counts wakes that failed.
	WakeErrors int `json:"wake_errors,omitempty"`
}

// LimitHit reports whether the walk stopped at its entry limit while the
// list went on.
func (r *Report) LimitHit() bool { return r.Stop == StopLimit }

// Failed reports whether the walk stopped on a bad list: a fault, a
// misaligned word or a word that kept changing.
func (r *Report) Failed() bool {
	switch r.Stop {
	case StopHeadFault, StopNextFault, StopMisaligned, StopWordFault, StopContended:
		return true
	}
	return false
}

// Clone returns a copy of r that does not share the walker's buffers.
func (r *Report) Clone() *Report {
	c := *r
	c.Entries = append([]Entry(nil), r.Entries...)
	return &c
}
