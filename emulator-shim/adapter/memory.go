//go:build linux && amd64

package adapter

import (
	"errors"

	"github.com/fexrl/fexrl/robustlist2"
)

// procMemory is a guest process's memory as the adapter needs it: the
// walker's Memory, plus whether an address lies in a shared mapping
// (where a compare-and-swap is atomic without stopping anyone).
type procMemory interface {
	robustlist2.Memory
	// Shared reports whether addr is in a MAP_SHARED mapping that fexrl
	// reaches through its own mapping of the same object.
	Shared(addr uint64) bool
}

// worldMem writes private futex words only with the rest of the address
// space stopped: the first write of a walk stops the world.
type worldMem struct {
	t     *tracer
	wc    *walkContext
	inner procMemory
}

func (m *worldMem) Load32(addr uint64) (uint32, error) { return m.inner.Load32(addr) }
func (m *worldMem) Load64(addr uint64) (uint64, error) { return m.inner.Load64(addr) }

func (m *worldMem) before(addr uint64) {
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

// memFor returns the memory of tk's address space, read through tk.
func (t *tracer) memFor(tk *task) procMemory {
	return newProcMem(tk.tid)
}

func (t *tracer) worldMemFor(tk *task, wc *walkContext) robustlist2.Memory {
	return &worldMem{t: t, wc: wc, inner: t.memFor(tk)}
}

// errNoWaker: a private futex word whose waiters only a live thread of
// the same address space could wake, and none can be made to.
var errNoWaker = errors.New("no thread of the address space can run the wake")

// procWaker wakes futex waiters of a guest address space: through
// fexrl's own mapping for shared memory, and through an injected futex
// syscall in the dying task for private memory.
type procWaker struct {
	t   *tracer
	mem procMemory
	inj *injector
}

func (w *procWaker) Wake(addr uint64, n int) (int, error) {
	if w.inj == nil {
		return 0, errNoWaker
	}
	return w.inj.wake(addr, n)
}

func (t *tracer) wakerFor(tk *task, inj *injector) robustlist2.Waker {
	return &procWaker{t: t, mem: t.memFor(tk), inj: inj}
}

// capture records the first value read at each address: the memory a
// walk saw before it changed anything.
type capture struct {
	inner robustlist2.Memory
	seen  map[uint64]bool
	words []MemWord
}

func newCapture(inner robustlist2.Memory) *capture {
	return &capture{inner: inner, seen: map[uint64]bool{}}
}

func (c *capture) note(addr uint64, size int, v uint64) {
	key := addr<<4 | uint64(size)
	if !c.seen[key] {
		c.seen[key] = true
		c.words = append(c.words, MemWord{Addr: addr, Size: size, Value: v})
	}
}

func (c *capture) Load32(addr uint64) (uint32, error) {
	v, err := c.inner.Load32(addr)
	if err == nil {
		c.note(addr, 4, uint64(v))
	}
	return v, err
}

func (c *capture) Load64(addr uint64) (uint64, error) {
	v, err := c.inner.Load64(addr)
	if err == nil {
		c.note(addr, 8, v)
	}
	return v, err
}

func (c *capture) Store32(addr uint64, v uint32) error { return c.inner.Store32(addr, v) }
func (c *capture) Store64(addr uint64, v uint64) error { return c.inner.Store64(addr, v) }
func (c *capture) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	prev, err := c.inner.CompareAndSwap32(addr, old, new)
	if err == nil {
		c.note(addr, 4, uint64(prev))
	}
	return prev, err
}
