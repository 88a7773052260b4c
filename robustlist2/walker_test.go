package robustlist2_test

import (
	"fmt"
	"testing"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

const tid = 0x1234

// listBuilder lays out a robust list in simulated memory the way a guest
// of either width would: a head, then nodes, each with its futex word at
// node + offset.
type listBuilder struct {
	t      *testing.T
	mem    *simMem
	bits   abi.Bits
	head   uint64
	offset int64
}

func newList(t *testing.T, bits abi.Bits, offset int64) *listBuilder {
	t.Helper()
	mem := newSimMem()
	mem.mapRange(0x10000, 0x100000, true)
	b := &listBuilder{t: t, mem: mem, bits: bits, head: 0x10000, offset: offset}
	b.setHead(b.head, 0)
	return b
}

func (b *listBuilder) ptr(addr, v uint64) {
	b.t.Helper()
	var err error
	if b.bits == abi.Bits32 {
		err = b.mem.Store32(addr, uint32(v))
	} else {
		err = b.mem.Store64(addr, v)
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// setHead writes the head: first entry (or the head itself for an empty
// list), futex_offset and list_op_pending.
func (b *listBuilder) setHead(first, pending uint64) {
	lay := b.bits.Head()
	if first == 0 {
		first = b.head
	}
	b.ptr(b.head+lay.Next, first)
	if b.bits == abi.Bits32 {
		_ = b.mem.Store32(b.head+lay.FutexOffset, uint32(int32(b.offset)))
	} else {
		_ = b.mem.Store64(b.head+lay.FutexOffset, uint64(b.offset))
	}
	b.ptr(b.head+lay.ListOpPending, pending)
}

// node makes a node at addr with the given futex word value and next.
func (b *listBuilder) node(addr, next uint64, word uint32) {
	b.ptr(addr, next)
	if err := b.mem.Store32(uint64(int64(addr)+b.offset), word); err != nil {
		b.t.Fatal(err)
	}
}

func (b *listBuilder) word(node uint64) uint32 {
	v, err := b.mem.Load32(uint64(int64(node) + b.offset))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *listBuilder) walk(opts robustlist2.WalkOptions) (*robustlist2.Report, *recWaker) {
	w := &recWaker{}
	var walker robustlist2.Walker
	return walker.Walk(b.mem, w, b.head, b.bits, tid, opts).Clone(), w
}

const (
	W  = abi.FutexWaiters
	OD = abi.FutexOwnerDied
)

func bothWidths(t *testing.T, f func(t *testing.T, bits abi.Bits)) {
	for _, bits := range []abi.Bits{abi.Bits32, abi.Bits64} {
		t.Run(bits.String(), func(t *testing.T) { f(t, bits) })
	}
}

func TestWalkEmptyList(t *testing.T) {
	bothWidths(t, func(t *testing.T, bits abi.Bits) {
		b := newList(t, bits, -16)
		r, w := b.walk(robustlist2.WalkOptions{})
		if r.Stop != robustlist2.StopEnd || r.Visited != 0 || len(r.Entries) != 0 || len(w.wakes) != 0 || b.mem.writes != 0 {
			t.Fatalf("empty list: %+v, wakes %v, writes %d", r, w.wakes, b.mem.writes)
		}
	})
}

// TestWalkWordRules covers handle_futex_death for a list entry: each row
// is one entry whose word starts at old.
func TestWalkWordRules(t *testing.T) {
	tests := []struct {
		name   string
		old    uint32
		pi     bool
		want   uint32
		action robustlist2.Action
		wakes  int
	}{
		{"owned, no waiters", tid, false, OD, robustlist2.ActionMarked, 0},
		{"owned, waiters: kept and one woken", tid | W, false, W | OD, robustlist2.ActionMarked, 1},
		{"owned, already OWNER_DIED (recursive death)", tid | OD | W, false, W | OD, robustlist2.ActionMarked, 1},
		{"owned PI with waiters: marked, not woken", tid | W, true, W | OD, robustlist2.ActionMarked, 0},
		{"other owner: untouched", 0x999 | W, false, 0x999 | W, robustlist2.ActionNotOwner, 0},
		{"free word on the list: untouched, no wake", 0, false, 0, robustlist2.ActionNotOwner, 0},
		{"OWNER_DIED without owner on the list: untouched", OD | W, false, OD | W, robustlist2.ActionNotOwner, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bothWidths(t, func(t *testing.T, bits abi.Bits) {
				b := newList(t, bits, -8)
				n := uint64(0x20008)
				b.node(n, b.head, tt.old)
				first := n
				if tt.pi {
					first |= 1
				}
				b.setHead(first, 0)
				r, w := b.walk(robustlist2.WalkOptions{})
				if got := b.word(n); got != tt.want {
					t.Errorf("word %#x, want %#x", got, tt.want)
				}
				if len(r.Entries) != 1 || r.Entries[0].Action != tt.action || r.Entries[0].Old != tt.old || r.Entries[0].New != tt.want || r.Entries[0].PI != tt.pi {
					t.Errorf("report %+v", r.Entries)
				}
				if len(w.wakes) != tt.wakes || r.Entries[0].Wakes != tt.wakes {
					t.Errorf("wakes %v (report %d), want %d", w.wakes, r.Entries[0].Wakes, tt.wakes)
				}
				if tt.wakes == 1 && w.wakes[0] != n-8 {
					t.Errorf("woke %#x, want the word at %#x", w.wakes[0], n-8)
				}
				if r.Stop != robustlist2.StopEnd || r.Visited != 1 {
					t.Errorf("stop %v visited %d", r.Stop, r.Visited)
				}
			})
		})
	}
}

// TestWalkPendingRules covers the list_op_pending cases.
func TestWalkPendingRules(t *testing.T) {
	tests := []struct {
		name    string
		old     uint32
		pi      bool
		onList  bool
		rule    robustlist2.PendingRule
		want    uint32
		action  robustlist2.Action
		wakes   int
		entries int
	}{
		{"pending owned: marked", tid, false, false, robustlist2.PendingKernel, OD, robustlist2.ActionMarked, 0, 1},
		{"pending free (lost wakeup): one waiter woken, nothing written", 0, false, false, robustlist2.PendingKernel, 0, robustlist2.ActionWakeOnly, 1, 1},
		{"pending free with WAITERS: woken", W, false, false, robustlist2.PendingKernel, W, robustlist2.ActionWakeOnly, 1, 1},
		{"pending free but PI: nothing", 0, true, false, robustlist2.PendingKernel, 0, robustlist2.ActionNotOwner, 0, 1},
		{"pending other owner: untouched", 0x777, false, false, robustlist2.PendingKernel, 0x777, robustlist2.ActionNotOwner, 0, 1},
		{"pending also on the list: skipped there, handled once", tid | W, false, true, robustlist2.PendingKernel, W | OD, robustlist2.ActionMarked, 1, 2},
		{"unlock window, word reused with the TID: wake only, never written", tid | 0x40000000, false, false, robustlist2.PendingWakeOnly, tid | 0x40000000, robustlist2.ActionUnlockWindow, 1, 1},
		{"unlock window, word released: wake only", 0, false, false, robustlist2.PendingWakeOnly, 0, robustlist2.ActionUnlockWindow, 1, 1},
		{"unlock window PI: no wake, no write", 0x777, true, false, robustlist2.PendingWakeOnly, 0x777, robustlist2.ActionUnlockWindow, 0, 1},
		{"unlock window rule, but the mutex is on the list (a lock): kernel rule", tid, false, true, robustlist2.PendingWakeOnly, OD, robustlist2.ActionMarked, 0, 2},
		{"try-unlock fixup: pending ignored", tid, false, false, robustlist2.PendingCleared, tid, robustlist2.ActionPendingCleared, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bothWidths(t, func(t *testing.T, bits abi.Bits) {
				b := newList(t, bits, 16)
				p := uint64(0x30000)
				b.node(p, b.head, tt.old)
				pend := p
				if tt.pi {
					pend |= 1
				}
				first := uint64(0)
				if tt.onList {
					first = p
				}
				b.setHead(first, pend)
				r, w := b.walk(robustlist2.WalkOptions{Pending: tt.rule})
				if got := b.word(p); got != tt.want {
					t.Errorf("word %#x, want %#x", got, tt.want)
				}
				if len(r.Entries) != tt.entries {
					t.Fatalf("entries %+v", r.Entries)
				}
				last := r.Entries[len(r.Entries)-1]
				if !last.Pending || last.Action != tt.action {
					t.Errorf("pending entry %+v, want action %v", last, tt.action)
				}
				if tt.onList && r.Entries[0].Action != robustlist2.ActionSkipped {
					t.Errorf("list entry %+v, want skipped", r.Entries[0])
				}
				if len(w.wakes) != tt.wakes {
					t.Errorf("wakes %v, want %d", w.wakes, tt.wakes)
				}
				if tt.rule != robustlist2.PendingKernel && !tt.onList && b.mem.writes != 0 {
					t.Errorf("%d writes under rule %v", b.mem.writes, tt.rule)
				}
			})
		})
	}
}

// TestWalkStops covers the ways a walk ends early.
func TestWalkStops(t *testing.T) {
	bothWidths(t, func(t *testing.T, bits abi.Bits) {
		t.Run("misaligned word stops before pending", func(t *testing.T) {
			b := newList(t, bits, 0)
			n1, n2, n3 := uint64(0x20000), uint64(0x20102), uint64(0x20200)
			b.ptr(n1, n2)
			_ = b.mem.Store32(n1, uint32(n2)) // word of n1 is its own next field: 32-bit word at n1
			b.node(n3, b.head, tid)
			b.ptr(n2, n3)
			p := uint64(0x30000)
			b.node(p, b.head, tid)
			b.setHead(n1, p)
			r, _ := b.walk(robustlist2.WalkOptions{})
			if r.Stop != robustlist2.StopMisaligned {
				t.Fatalf("stop %v, entries %+v", r.Stop, r.Entries)
			}
			if b.word(n3) != tid || b.word(p) != tid {
				t.Errorf("entries after the misaligned word were handled: n3 %#x pending %#x", b.word(n3), b.word(p))
			}
		})
		t.Run("word fault stops", func(t *testing.T) {
			b := newList(t, bits, 0x1000000) // words far outside the mapping
			n := uint64(0x20000)
			b.ptr(n, b.head)
			b.setHead(n, 0)
			r, _ := b.walk(robustlist2.WalkOptions{})
			if r.Stop != robustlist2.StopWordFault || r.Entries[0].Action != robustlist2.ActionFault {
				t.Fatalf("stop %v, entries %+v", r.Stop, r.Entries)
			}
		})
		t.Run("next fault: the entry is still handled, pending is not", func(t *testing.T) {
			b := newList(t, bits, 8)
			n := uint64(0x20000)
			b.node(n, 0x7000000, tid) // next points at nothing
			p := uint64(0x30000)
			b.node(p, b.head, tid)
			b.setHead(n, p)
			r, _ := b.walk(robustlist2.WalkOptions{})
			// The bad next is read when the walk moves on: the node at
			// 0x7000000 is "visited" and its own next read faults.
			if r.Stop != robustlist2.StopWordFault && r.Stop != robustlist2.StopNextFault {
				t.Fatalf("stop %v", r.Stop)
			}
			if b.word(n) != OD {
				t.Errorf("entry before the fault not handled: %#x", b.word(n))
			}
			if b.word(p) != tid {
				t.Errorf("pending handled after a fault: %#x", b.word(p))
			}
		})
		t.Run("head fault", func(t *testing.T) {
			b := newList(t, bits, 0)
			var walker robustlist2.Walker
			r := walker.Walk(b.mem, &recWaker{}, 0x9000000, bits, tid, robustlist2.WalkOptions{})
			if r.Stop != robustlist2.StopHeadFault || len(r.Entries) != 0 {
				t.Fatalf("%+v", r)
			}
		})
		t.Run("no head", func(t *testing.T) {
			b := newList(t, bits, 0)
			var walker robustlist2.Walker
			if r := walker.Walk(b.mem, &recWaker{}, 0, bits, tid, robustlist2.WalkOptions{}); r.Stop != robustlist2.StopNoHead {
				t.Fatalf("%+v", r)
			}
		})
		t.Run("word in read-only memory stops", func(t *testing.T) {
			b := newList(t, bits, 0)
			n := uint64(0x20000)
			b.node(n, b.head, tid) // word is the node's own first 4 bytes... keep it simple:
			b.mem.mapRange(0x200000, 0x1000, false)
			b.ptr(n, b.head)
			off := int64(0x200000 - n)
			b.offset = off
			b.mem.pokeRO(0x200000, tid)
			b.setHead(n, 0)
			r, _ := b.walk(robustlist2.WalkOptions{})
			if r.Stop != robustlist2.StopWordFault {
				t.Fatalf("stop %v", r.Stop)
			}
		})
	})
}

// chain builds a list of n nodes 16 bytes apart, every word owned.
func chain(b *listBuilder, n int, closeTo uint64) []uint64 {
	nodes := make([]uint64, n)
	for i := range nodes {
		nodes[i] = 0x40000 + uint64(i)*16
	}
	for i, nd := range nodes {
		next := closeTo
		if i+1 < n {
			next = nodes[i+1]
		}
		b.node(nd, next, tid)
	}
	b.setHead(nodes[0], 0)
	return nodes
}

func TestWalkLimit(t *testing.T) {
	bothWidths(t, func(t *testing.T, bits abi.Bits) {
		for _, n := range []int{abi.RobustListLimit - 1, abi.RobustListLimit, abi.RobustListLimit + 1, 3000} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				b := newList(t, bits, 8)
				nodes := chain(b, n, b.head)
				p := uint64(0x20000)
				b.node(p, b.head, tid)
				b.setHead(nodes[0], p)
				r, _ := b.walk(robustlist2.WalkOptions{})
				marked := 0
				for _, nd := range nodes {
					if b.word(nd) == OD {
						marked++
					}
				}
				wantMarked := min(n, abi.RobustListLimit)
				if marked != wantMarked || r.Marked != wantMarked+1 {
					t.Errorf("marked %d (report %d), want %d (+1 pending)", marked, r.Marked, wantMarked)
				}
				if b.word(p) != OD {
					t.Errorf("pending not handled after the limit: %#x", b.word(p))
				}
				if got, want := r.LimitHit(), n > abi.RobustListLimit; got != want {
					t.Errorf("LimitHit %v, want %v (stop %v)", got, want, r.Stop)
				}
				// Unbounded walks the whole list.
				b2 := newList(t, bits, 8)
				chain(b2, n, b2.head)
				r2, _ := b2.walk(robustlist2.WalkOptions{Unbounded: true})
				if r2.Marked != n || r2.Stop != robustlist2.StopEnd {
					t.Errorf("unbounded: marked %d stop %v, want %d end", r2.Marked, r2.Stop, n)
				}
			})
		}
	})
}

func TestWalkCycle(t *testing.T) {
	bothWidths(t, func(t *testing.T, bits abi.Bits) {
		for _, n := range []int{1, 2, 3, 7, 100} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				b := newList(t, bits, 8)
				nodes := chain(b, n, 0)
				b.ptr(nodes[n-1], nodes[0]) // close the cycle
				r, _ := b.walk(robustlist2.WalkOptions{})
				if r.Stop != robustlist2.StopLimit || r.Visited != abi.RobustListLimit || r.Marked != n {
					t.Errorf("kernel walk: stop %v visited %d marked %d", r.Stop, r.Visited, r.Marked)
				}
				b2 := newList(t, bits, 8)
				nodes = chain(b2, n, 0)
				b2.ptr(nodes[n-1], nodes[0])
				r2, _ := b2.walk(robustlist2.WalkOptions{Unbounded: true})
				if r2.Stop != robustlist2.StopCycle || r2.Marked != n || r2.Visited > 4*n+2 {
					t.Errorf("unbounded walk: stop %v visited %d marked %d", r2.Stop, r2.Visited, r2.Marked)
				}
				// A tail leading into the cycle (rho shape) is found too.
				b3 := newList(t, bits, 8)
				nodes = chain(b3, n+5, 0)
				b3.ptr(nodes[n+4], nodes[5])
				r3, _ := b3.walk(robustlist2.WalkOptions{Unbounded: true})
				if r3.Stop != robustlist2.StopCycle || r3.Marked != n+5 {
					t.Errorf("rho: stop %v marked %d", r3.Stop, r3.Marked)
				}
			})
		}
	})
}

func TestWalkOffsets(t *testing.T) {
	tests := []struct {
		name   string
		bits   abi.Bits
		node   uint64
		offset int64
		word   uint64
	}{
		{"64-bit negative offset", abi.Bits64, 0x20040, -0x20, 0x20020},
		{"32-bit negative offset", abi.Bits32, 0x20040, -0x20, 0x20020},
		{"64-bit positive offset", abi.Bits64, 0x20040, 0x100, 0x20140},
		// A 32-bit list computes node+offset in 32 bits: it wraps.
		{"32-bit wrap", abi.Bits32, 0x20040, -0x100000000 + 0x10, 0x20050},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newList(t, tt.bits, tt.offset)
			b.ptr(tt.node, b.head)
			if err := b.mem.Store32(tt.word, tid); err != nil {
				t.Fatal(err)
			}
			b.setHead(tt.node, 0)
			r, _ := b.walk(robustlist2.WalkOptions{})
			if len(r.Entries) != 1 || r.Entries[0].Word != tt.word || r.Entries[0].Action != robustlist2.ActionMarked {
				t.Fatalf("entries %+v", r.Entries)
			}
		})
	}
}

func TestWalkContendedCAS(t *testing.T) {
	b := newList(t, abi.Bits64, 8)
	n := uint64(0x20000)
	b.node(n, b.head, tid)
	b.setHead(n, 0)
	// Another writer adds FUTEX_WAITERS between the walker's read and its
	// compare-and-swap, once: the walker must retry and keep the bit.
	b.mem.race = func(addr uint64) {
		if addr == n+8 {
			_ = b.mem.store32raw(addr, tid|W)
			b.mem.race = nil
		}
	}
	r, w := b.walk(robustlist2.WalkOptions{})
	if got := b.word(n); got != W|OD || len(w.wakes) != 1 || r.Entries[0].Old != tid|W {
		t.Fatalf("word %#x wakes %v entry %+v", got, w.wakes, r.Entries[0])
	}
	// A word that changes on every try is reported, not spun on forever.
	b2 := newList(t, abi.Bits64, 8)
	b2.node(n, b2.head, tid)
	b2.setHead(n, 0)
	flip := uint32(0)
	b2.mem.race = func(addr uint64) {
		flip ^= W
		_ = b2.mem.store32raw(addr, tid|flip)
	}
	r2, _ := b2.walk(robustlist2.WalkOptions{})
	if r2.Stop != robustlist2.StopContended {
		t.Fatalf("stop %v", r2.Stop)
	}
}

func TestWalkReportCap(t *testing.T) {
	b := newList(t, abi.Bits64, 8)
	chain(b, 100, b.head)
	w := robustlist2.Walker{ReportCap: 10}
	r := w.Walk(b.mem, &recWaker{}, b.head, abi.Bits64, tid, robustlist2.WalkOptions{})
	if len(r.Entries) != 10 || !r.Truncated || r.Marked != 100 || r.Visited != 100 {
		t.Fatalf("entries %d truncated %v marked %d visited %d", len(r.Entries), r.Truncated, r.Marked, r.Visited)
	}
}

func TestWalkWakeErrorCounted(t *testing.T) {
	b := newList(t, abi.Bits32, 8)
	n := uint64(0x20000)
	b.node(n, b.head, tid|W)
	b.setHead(n, 0)
	var walker robustlist2.Walker
	r := walker.Walk(b.mem, &recWaker{fail: true}, b.head, abi.Bits32, tid, robustlist2.WalkOptions{})
	if r.WakeErrors != 1 || r.Entries[0].Woken != -1 || b.word(n) != W|OD {
		t.Fatalf("%+v", r)
	}
}
