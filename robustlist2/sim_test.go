package robustlist2_test

import (
	"encoding/binary"
	"errors"
)

// simMem is a small sparse memory for the walker's unit tests: pages
// mapped read-write or read-only, faults everywhere else, a count of
// writes, and a hook that lets a test change a word between the walker's
// read and its compare-and-swap, as another thread would.
type simMem struct {
	pages  map[uint64]*page
	writes int
	race   func(addr uint64)
}

type page struct {
	b        [4096]byte
	writable bool
}

var errFault = errors.New("fault")

func newSimMem() *simMem { return &simMem{pages: map[uint64]*page{}} }

func (m *simMem) mapRange(addr, size uint64, writable bool) {
	for p := addr &^ 4095; p < addr+size; p += 4096 {
		m.pages[p] = &page{writable: writable}
	}
}

func (m *simMem) bytes(addr uint64, n int, write bool) ([]byte, error) {
	out := make([]byte, n)
	for i := 0; i < n; i++ {
		a := addr + uint64(i)
		p := m.pages[a&^4095]
		if p == nil || (write && !p.writable) {
			return nil, errFault
		}
		out[i] = p.b[a&4095]
	}
	return out, nil
}

func (m *simMem) put(addr uint64, b []byte, check bool) error {
	for i := range b {
		a := addr + uint64(i)
		p := m.pages[a&^4095]
		if p == nil || (check && !p.writable) {
			return errFault
		}
	}
	for i := range b {
		a := addr + uint64(i)
		m.pages[a&^4095].b[a&4095] = b[i]
	}
	return nil
}

func (m *simMem) Load32(addr uint64) (uint32, error) {
	b, err := m.bytes(addr, 4, false)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (m *simMem) Load64(addr uint64) (uint64, error) {
	b, err := m.bytes(addr, 8, false)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (m *simMem) Store32(addr uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return m.put(addr, b[:], true)
}

func (m *simMem) Store64(addr uint64, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return m.put(addr, b[:], true)
}

func (m *simMem) store32raw(addr uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return m.put(addr, b[:], false)
}

func (m *simMem) pokeRO(addr uint64, v uint32) { _ = m.store32raw(addr, v) }

func (m *simMem) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if m.race != nil {
		m.race(addr)
	}
	if _, err := m.bytes(addr, 4, true); err != nil {
		return 0, err
	}
	cur, err := m.Load32(addr)
	if err != nil {
		return 0, err
	}
	if cur == old {
		m.writes++
		return cur, m.Store32(addr, new)
	}
	return cur, nil
}

// recWaker records wakes and says one waiter was woken each time.
type recWaker struct {
	wakes []uint64
	fail  bool
}

func (w *recWaker) Wake(addr uint64, n int) (int, error) {
	if w.fail {
		return 0, errFault
	}
	w.wakes = append(w.wakes, addr)
	return 1, nil
}
