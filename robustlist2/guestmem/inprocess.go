package guestmem

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// InProcess is the memory of a guest that shares the caller's address
// space: guest address a is host address a+base (base is 0 for FEX, and
// QEMU linux-user's guest_base otherwise). Only the guest's ranges are
// ever touched: an access not entirely inside one of them fails with
// ErrOutside, so a hostile robust list cannot make fexrl read or write
// the emulator's own memory. An access to a page inside a range that is
// unmapped, or protected against it, fails with ErrFault.
//
// Loads and stores may be unaligned. CompareAndSwap32 is the real atomic
// compare-and-swap, on a 4-byte aligned word. The ranges are fixed at
// construction; an InProcess is safe for concurrent use. The ranges must
// not cover the Go heap of this process.
type InProcess struct {
	set      *rangeSet
	base     uint64
	sessions sync.Pool // *WalkSession
}

// NewInProcess returns the memory of a guest whose address ranges are
// ranges (merged where they overlap or touch) and whose guest address a
// lives at host address a+base. It fails if a range's host addresses
// overflow 64 bits or do not fit in a uintptr.
func NewInProcess(ranges []Range, base uint64) (*InProcess, error) {
	if err := checkHostEndian(); err != nil {
		return nil, err
	}
	spans, err := mergeRanges(ranges)
	if err != nil {
		return nil, err
	}
	for _, r := range spans {
		last := r.End - 1
		if last > math.MaxUint64-base {
			return nil, fmt.Errorf("guestmem: range %v plus base %#x overflows: %w", r, base, ErrOutside)
		}
		if last+base > math.MaxUint64>>(64-ptrBits) {
			return nil, fmt.Errorf("guestmem: range %v plus base %#x does not fit a %d-bit host address: %w",
				r, base, ptrBits, ErrOutside)
		}
	}
	return &InProcess{set: newRangeSet(spans), base: base}, nil
}

// ptrBits is the width of a host address.
const ptrBits = 32 << (^uintptr(0) >> 63)

// Ranges returns the guest's ranges, sorted and merged.
func (m *InProcess) Ranges() []Range { return slices.Clone(m.set.spans) }

// Base returns the offset from guest to host addresses.
func (m *InProcess) Base() uint64 { return m.base }

// host returns the host address of addr, and whether [addr, addr+size)
// lies in the hinted guest range. It inlines; on false, the caller asks
// m.set.search, which decides.
func (m *InProcess) host(addr uint64, size uint64) (uintptr, bool) {
	return uintptr(addr + m.base), m.set.hinted(addr, size)
}

// outside is the error of an access outside the guest's ranges.
func outside(op string, addr uint64, size int) error { return accessErr(op, addr, size, ErrOutside) }

// Each access below checks its range, then runs guarded in the same frame
// (see faultOn in hostmem.go): one frame per access keeps the walker's
// Load32 + CompareAndSwap32 step cheap.

// Load32 reads the 32-bit little-endian word at addr.
func (m *InProcess) Load32(addr uint64) (v uint32, err error) {
	u, ok := m.host(addr, 4)
	if !ok && !m.set.search(addr, 4) {
		return 0, outside(opLoad32, addr, 4)
	}
	prev, done := faultOn(), false
	defer faultCatchAt(prev, &done, &err, opLoad32, addr, 4)
	v = load32(u)
	faultOff(prev, &done)
	return v, nil
}

// Load64 reads the 64-bit little-endian word at addr.
func (m *InProcess) Load64(addr uint64) (v uint64, err error) {
	u, ok := m.host(addr, 8)
	if !ok && !m.set.search(addr, 8) {
		return 0, outside(opLoad64, addr, 8)
	}
	prev, done := faultOn(), false
	defer faultCatchAt(prev, &done, &err, opLoad64, addr, 8)
	v = load64(u)
	faultOff(prev, &done)
	return v, nil
}

// Store32 writes the 32-bit little-endian word v at addr.
func (m *InProcess) Store32(addr uint64, v uint32) (err error) {
	u, ok := m.host(addr, 4)
	if !ok && !m.set.search(addr, 4) {
		return outside(opStore32, addr, 4)
	}
	prev, done := faultOn(), false
	defer faultCatchAt(prev, &done, &err, opStore32, addr, 4)
	store32(u, v)
	faultOff(prev, &done)
	return nil
}

// Store64 writes the 64-bit little-endian word v at addr.
func (m *InProcess) Store64(addr uint64, v uint64) (err error) {
	u, ok := m.host(addr, 8)
	if !ok && !m.set.search(addr, 8) {
		return outside(opStore64, addr, 8)
	}
	prev, done := faultOn(), false
	defer faultCatchAt(prev, &done, &err, opStore64, addr, 8)
	store64(u, v)
	faultOff(prev, &done)
	return nil
}

// CompareAndSwap32 atomically replaces the 32-bit word at addr with new
// if it holds old, and returns the value it held before: the swap
// happened if and only if prev == old. addr must be 4-byte aligned.
func (m *InProcess) CompareAndSwap32(addr uint64, old, new uint32) (prev uint32, err error) {
	if addr&3 != 0 {
		return 0, accessErr(opCAS32, addr, 4, ErrMisaligned)
	}
	u, ok := m.host(addr, 4)
	if !ok && !m.set.search(addr, 4) {
		return 0, outside(opCAS32, addr, 4)
	}
	was, done := faultOn(), false
	defer faultCatchAt(was, &done, &err, opCAS32, addr, 4)
	prev = cas32(hostPtr(u), old, new)
	faultOff(was, &done)
	return prev, nil
}
