//go:build linux && amd64

package adapter

import (
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// worldMem writes private futex words only with the rest of the address
// space stopped: the first write of a walk stops the world.
type worldMem struct {
	t     *tracer
	wc    *walkContext
	inner *guestmem.Process
	fresh bool
}

func (m *worldMem) Load32(addr uint64) (uint32, error) { return m.inner.Load32(addr) }
func (m *worldMem) Load64(addr uint64) (uint64, error) { return m.inner.Load64(addr) }

func (m *worldMem) before(addr uint64) {
	if !m.fresh {
		// Reads may trust an old view of the mappings; a write must know
		// whether its word is shared now.
		m.inner.Reset()
		m.fresh = true
	}
	if !m.inner.Shared(addr) {
		m.t.stopWorld(m.wc)
	}
}

func (m *worldMem) Store32(addr uint64, v uint32) error {
	m.before(addr)
	return m.inner.Store32(addr, v)
}

func (m *worldMem) Store64(addr uint64, v uint64) error {
	m.before(addr)
	return m.inner.Store64(addr, v)
}

func (m *worldMem) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	m.before(addr)
	return m.inner.CompareAndSwap32(addr, old, new)
}

// memFor returns the memory of tk's address space. Each address space
// keeps one guestmem.Process (and its mappings of shared objects), read
// through the task being handled.
func (t *tracer) memFor(tk *task) *guestmem.Process {
	mm := tk.mm
	if mm == nil {
		p, _ := guestmem.NewProcess(int(tk.tid))
		return p
	}
	if mm.proc == nil {
		mm.proc, _ = guestmem.NewProcess(int(tk.tid))
	}
	// Read through tk itself: it is stopped, so it still has the memory,
	// where the thread the Process was made for may be gone already.
	mm.proc.SetPid(int(tk.tid))
	return mm.proc
}

func (t *tracer) worldMemFor(tk *task, wc *walkContext) robustlist2.Memory {
	p := t.memFor(tk)
	p.ResetCache()
	return &worldMem{t: t, wc: wc, inner: p}
}

// wakerFor wakes waiters of tk's address space: through fexrl's own
// mapping for shared memory (any process that maps the object), and for
// private memory, which only a thread of the address space reaches,
// through fallback (nil: such a wake fails).
func (t *tracer) wakerFor(tk *task, fallback func(addr uint64, n int) (int, error)) *guestmem.ProcessWaker {
	return guestmem.NewProcessWaker(t.memFor(tk), fallback)
}

// walkWakerFor wakes the waiters of a walk of tk's lists: waiters the
// walk's stopped world interrupted first; then waiters asleep, in shared
// memory through fexrl's mapping, in private memory through a futex
// syscall injected into tk when it is at a syscall stop (inj). A task
// that dies by a signal runs no more syscalls: then the rest of its
// address space is stopped, which interrupts every waiter of the word
// there is (private memory has no waiter outside it), and the wake takes
// them.
func (t *tracer) walkWakerFor(tk *task, inj *injector, wc *walkContext) robustlist2.Waker {
	fallback := func(addr uint64, n int) (int, error) {
		t.stopWorld(wc)
		return takeWaiters(wc, addr, n), nil
	}
	if inj != nil {
		fallback = inj.wake
	}
	return &walkWaker{wc: wc, inner: t.wakerFor(tk, fallback)}
}
