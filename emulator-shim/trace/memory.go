package trace

import (
	"errors"
	"fmt"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// ErrUnrecorded is the fault replay gives for guest memory the trace did
// not record: when the trace was recorded, that access faulted (or never
// happened), so in replay it faults.
var ErrUnrecorded = errors.New("memory not recorded in the trace")

// ErrReadOnly is the fault replay gives for a write to a word the trace
// recorded as read-only.
var ErrReadOnly = errors.New("word recorded as read-only")

// maxMappedPages bounds the simulated pages replay keeps mapped between
// exits; past it they are all unmapped, so memory follows what one exit
// captured, not the whole trace.
const maxMappedPages = 1024

// recordedMemory is the guest memory of one replayed exit or exec:
// guestmem.Simulated seeded with the recorded words, seen through the
// word set, so that exactly the recorded bytes are there.
type recordedMemory struct {
	sim    guestmem.Simulated
	words  *wordSet
	mapped map[uint64]struct{} // page numbers
}

// load seeds the simulated memory with ws.
func (m *recordedMemory) load(ws *wordSet) error {
	m.sim.ClearWrites()
	if m.mapped == nil {
		m.mapped = make(map[uint64]struct{})
	}
	if len(m.mapped) > maxMappedPages {
		for pn := range m.mapped {
			if err := m.sim.Unmap(pn*guestmem.SimPageSize, 1); err != nil {
				return err
			}
		}
		clear(m.mapped)
	}
	m.words = ws
	for i := range ws.spans {
		sp := &ws.spans[i]
		for pn := sp.start / guestmem.SimPageSize; ; pn++ {
			if _, ok := m.mapped[pn]; !ok {
				if err := m.sim.Map(pn*guestmem.SimPageSize, guestmem.SimPageSize, guestmem.PermReadWrite); err != nil {
					return err
				}
				m.mapped[pn] = struct{}{}
			}
			if pn == (sp.end-1)/guestmem.SimPageSize {
				break
			}
		}
		if err := m.sim.WriteBytes(sp.start, ws.bytes(sp)); err != nil {
			return err
		}
	}
	return nil
}

func unrecorded(op string, addr uint64, size int, cause error) error {
	return &guestmem.AccessError{Op: op, Addr: addr, Size: size, Err: fmt.Errorf("%w: %w", guestmem.ErrFault, cause)}
}

func (m *recordedMemory) readable(op string, addr uint64, size int) error {
	if m.words == nil || !m.words.covers(addr, uint64(size)) {
		return unrecorded(op, addr, size, ErrUnrecorded)
	}
	return nil
}

func (m *recordedMemory) writable(op string, addr uint64, size int) error {
	var sp *span
	if m.words != nil {
		sp = m.words.find(addr, uint64(size))
	}
	if sp == nil {
		return unrecorded(op, addr, size, ErrUnrecorded)
	}
	if sp.ro {
		return unrecorded(op, addr, size, ErrReadOnly)
	}
	return nil
}

// Load32 reads a 32-bit word of the recorded memory.
func (m *recordedMemory) Load32(addr uint64) (uint32, error) {
	if err := m.readable("load32", addr, 4); err != nil {
		return 0, err
	}
	return m.sim.Load32(addr)
}

// Load64 reads a 64-bit word of the recorded memory.
func (m *recordedMemory) Load64(addr uint64) (uint64, error) {
	if err := m.readable("load64", addr, 8); err != nil {
		return 0, err
	}
	return m.sim.Load64(addr)
}

// Store32 writes a 32-bit word of the recorded memory.
func (m *recordedMemory) Store32(addr uint64, v uint32) error {
	if err := m.writable("store32", addr, 4); err != nil {
		return err
	}
	return m.sim.Store32(addr, v)
}

// Store64 writes a 64-bit word of the recorded memory.
func (m *recordedMemory) Store64(addr uint64, v uint64) error {
	if err := m.writable("store64", addr, 8); err != nil {
		return err
	}
	return m.sim.Store64(addr, v)
}

// CompareAndSwap32 compares and swaps a 32-bit word of the recorded memory.
func (m *recordedMemory) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if err := m.writable("cas32", addr, 4); err != nil {
		return 0, err
	}
	return m.sim.CompareAndSwap32(addr, old, new)
}

// Store is one store a replayed syscall made to guest memory.
type Store struct {
	Addr  uint64
	Size  int
	Value uint64
}

// syscallMemory is the memory a replayed syscall writes its results to
// (get_robust_list's head and length). The trace records no memory for
// syscalls, so every store succeeds and is kept for the output, unless
// the recorded answer was EFAULT: then the guest's pointer was bad and
// every store faults. Nothing is readable.
type syscallMemory struct {
	fault  bool
	stores []Store
}

func (m *syscallMemory) store(op string, addr uint64, size int, v uint64) error {
	if m.fault {
		return unrecorded(op, addr, size, errors.New("the recorded answer was EFAULT"))
	}
	m.stores = append(m.stores, Store{Addr: addr, Size: size, Value: v})
	return nil
}

// Load32 reads a 32-bit word of a syscall's scratch memory.
func (m *syscallMemory) Load32(addr uint64) (uint32, error) {
	return 0, unrecorded("load32", addr, 4, ErrUnrecorded)
}

// Load64 reads a 64-bit word of a syscall's scratch memory.
func (m *syscallMemory) Load64(addr uint64) (uint64, error) {
	return 0, unrecorded("load64", addr, 8, ErrUnrecorded)
}

// Store32 writes a 32-bit word of a syscall's scratch memory.
func (m *syscallMemory) Store32(addr uint64, v uint32) error {
	return m.store("store32", addr, 4, uint64(v))
}

// Store64 writes a 64-bit word of a syscall's scratch memory.
func (m *syscallMemory) Store64(addr uint64, v uint64) error {
	return m.store("store64", addr, 8, v)
}

// CompareAndSwap32 compares and swaps a 32-bit word of a syscall's scratch memory.
func (m *syscallMemory) CompareAndSwap32(addr uint64, _, _ uint32) (uint32, error) {
	return 0, unrecorded("cas32", addr, 4, ErrUnrecorded)
}

// noWaker wakes nobody; syscalls replay does not wake.
type noWaker struct{}

// Wake wakes nobody.
func (noWaker) Wake(uint64, int) (int, error) { return 0, nil }
