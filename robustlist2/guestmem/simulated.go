package guestmem

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
)

// SimPageSize is the page size of Simulated memory.
const SimPageSize = 4096

// Perm is the protection of a Simulated page.
type Perm uint8

// The page protections.
const (
	// PermNone: mapped, but every access faults (a guard page).
	PermNone Perm = iota
	// PermRead: loads succeed, stores and compare-and-swap fault.
	PermRead
	// PermReadWrite: every access succeeds.
	PermReadWrite
)

// String returns "none", "read" or "read-write".
func (p Perm) String() string {
	switch p {
	case PermNone:
		return "none"
	case PermRead:
		return "read"
	case PermReadWrite:
		return "read-write"
	}
	return fmt.Sprintf("Perm(%d)", uint8(p))
}

// Write is one write made through the Memory methods of a Simulated: a
// store, or a compare-and-swap that swapped.
type Write struct {
	Addr uint64
	Size int    // 4 or 8
	Old  uint64 // the value before the write
	New  uint64 // the value written
}

// Simulated is sparse, deterministic guest memory for replay and tests:
// pages of SimPageSize bytes exist only once mapped with Map, each with a
// Perm. Loads and stores may be unaligned and straddle pages; an access
// touching an unmapped page, or a page whose Perm forbids it, fails with
// ErrFault and changes nothing (all or nothing, unlike a real kernel,
// which may write a prefix). CompareAndSwap32 requires 4-byte alignment.
//
// Every write made through the Memory methods is logged (see Writes), so
// a test can assert that nothing was written outside a given range;
// WriteBytes and ReadBytes set up and inspect memory without logging and
// regardless of Perm. The zero value is empty memory, ready to use; a
// Simulated is safe for concurrent use.
type Simulated struct {
	mu     sync.Mutex
	pages  map[uint64]*simPage // by page number
	writes []Write
}

type simPage struct {
	perm Perm
	data [SimPageSize]byte
}

// pageSpan returns the page numbers of the first and last pages touched
// by [addr, addr+size), size > 0.
func pageSpan(addr, size uint64) (first, last uint64, err error) {
	if size == 0 || size-1 > math.MaxUint64-addr {
		return 0, 0, fmt.Errorf("guestmem: bad span %#x+%#x: %w", addr, size, ErrInvalid)
	}
	return addr / SimPageSize, (addr + size - 1) / SimPageSize, nil
}

// Map maps every page touched by [addr, addr+size) with perm, zero
// filled; pages already mapped there are replaced, as mmap with MAP_FIXED
// would.
func (s *Simulated) Map(addr, size uint64, perm Perm) error {
	first, last, err := pageSpan(addr, size)
	if err != nil {
		return err
	}
	if perm > PermReadWrite {
		return fmt.Errorf("guestmem: %v: %w", perm, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages == nil {
		s.pages = make(map[uint64]*simPage)
	}
	for pn := first; ; pn++ {
		s.pages[pn] = &simPage{perm: perm}
		if pn == last {
			return nil
		}
	}
}

// Protect changes the protection of every page touched by
// [addr, addr+size), keeping their contents. All of them must be mapped.
func (s *Simulated) Protect(addr, size uint64, perm Perm) error {
	first, last, err := pageSpan(addr, size)
	if err != nil {
		return err
	}
	if perm > PermReadWrite {
		return fmt.Errorf("guestmem: %v: %w", perm, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for pn := first; ; pn++ {
		if s.pages[pn] == nil {
			return accessErr("protect", pn*SimPageSize, SimPageSize, fmt.Errorf("%w: unmapped page", ErrFault))
		}
		if pn == last {
			break
		}
	}
	for pn := first; ; pn++ {
		s.pages[pn].perm = perm
		if pn == last {
			return nil
		}
	}
}

// Unmap removes every page touched by [addr, addr+size); unmapped pages
// are ignored.
func (s *Simulated) Unmap(addr, size uint64) error {
	first, last, err := pageSpan(addr, size)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for pn := first; ; pn++ {
		delete(s.pages, pn)
		if pn == last {
			return nil
		}
	}
}

// access is what an access needs from a page.
type access uint8

const (
	accessAny access = iota // WriteBytes, ReadBytes: mapped is enough
	accessRead
	accessWrite
)

// check reports whether [addr, addr+size) may be accessed; s.mu is held.
func (s *Simulated) check(op string, addr uint64, size int, need access) error {
	first, last, err := pageSpan(addr, uint64(size))
	if err != nil {
		return accessErr(op, addr, size, fmt.Errorf("%w: address wraps around", ErrFault))
	}
	for pn := first; ; pn++ {
		p := s.pages[pn]
		switch {
		case p == nil:
			return accessErr(op, addr, size, fmt.Errorf("%w: page %#x unmapped", ErrFault, pn*SimPageSize))
		case need == accessRead && p.perm == PermNone,
			need == accessWrite && p.perm != PermReadWrite:
			return accessErr(op, addr, size, fmt.Errorf("%w: page %#x is %v", ErrFault, pn*SimPageSize, p.perm))
		}
		if pn == last {
			return nil
		}
	}
}

// copyOut copies memory at addr into b; the span was checked.
func (s *Simulated) copyOut(addr uint64, b []byte) {
	for len(b) > 0 {
		p := s.pages[addr/SimPageSize]
		n := copy(b, p.data[addr%SimPageSize:])
		b = b[n:]
		addr += uint64(n)
	}
}

// copyIn copies b into memory at addr; the span was checked.
func (s *Simulated) copyIn(addr uint64, b []byte) {
	for len(b) > 0 {
		p := s.pages[addr/SimPageSize]
		n := copy(p.data[addr%SimPageSize:], b)
		b = b[n:]
		addr += uint64(n)
	}
}

// WriteBytes copies b to addr, regardless of the pages' Perm and without
// logging: for setting up memory. Every page it touches must be mapped.
func (s *Simulated) WriteBytes(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(opWrite, addr, len(b), accessAny); err != nil {
		return err
	}
	s.copyIn(addr, b)
	return nil
}

// ReadBytes returns the n bytes at addr, regardless of the pages' Perm:
// for inspecting memory. Every page it touches must be mapped.
func (s *Simulated) ReadBytes(addr uint64, n int) ([]byte, error) {
	if n < 0 {
		return nil, accessErr(opRead, addr, n, ErrInvalid)
	}
	b := make([]byte, n)
	if n == 0 {
		return b, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(opRead, addr, n, accessAny); err != nil {
		return nil, err
	}
	s.copyOut(addr, b)
	return b, nil
}

// Writes returns, in order, the writes made through Store32, Store64 and
// CompareAndSwap32 since the memory was created or ClearWrites was called.
func (s *Simulated) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// ClearWrites empties the write log.
func (s *Simulated) ClearWrites() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = s.writes[:0]
}

// load reads a size-byte little-endian word; s.mu is held.
func (s *Simulated) load(op string, addr uint64, size int, need access) (uint64, error) {
	if err := s.check(op, addr, size, need); err != nil {
		return 0, err
	}
	var b [8]byte
	s.copyOut(addr, b[:size])
	return binary.LittleEndian.Uint64(b[:]), nil
}

// store writes and logs a size-byte little-endian word; s.mu is held and
// the span was checked for writing.
func (s *Simulated) store(addr uint64, size int, old, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	s.copyIn(addr, b[:size])
	s.writes = append(s.writes, Write{Addr: addr, Size: size, Old: old, New: v})
}

// Load32 reads the 32-bit little-endian word at addr.
func (s *Simulated) Load32(addr uint64) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.load(opLoad32, addr, 4, accessRead)
	return uint32(v), err
}

// Load64 reads the 64-bit little-endian word at addr.
func (s *Simulated) Load64(addr uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(opLoad64, addr, 8, accessRead)
}

// Store32 writes the 32-bit little-endian word v at addr.
func (s *Simulated) Store32(addr uint64, v uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.load(opStore32, addr, 4, accessWrite)
	if err != nil {
		return err
	}
	s.store(addr, 4, old, uint64(v))
	return nil
}

// Store64 writes the 64-bit little-endian word v at addr.
func (s *Simulated) Store64(addr uint64, v uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.load(opStore64, addr, 8, accessWrite)
	if err != nil {
		return err
	}
	s.store(addr, 8, old, v)
	return nil
}

// CompareAndSwap32 replaces the 32-bit word at addr with new if it holds
// old, atomically with respect to every other method, and returns the
// value it held before. addr must be 4-byte aligned and the page writable
// (as for the kernel, even when the comparison fails).
func (s *Simulated) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, accessErr(opCAS32, addr, 4, ErrMisaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.load(opCAS32, addr, 4, accessWrite)
	if err != nil {
		return 0, err
	}
	if uint32(cur) == old {
		s.store(addr, 4, cur, uint64(new))
	}
	return uint32(cur), nil
}
