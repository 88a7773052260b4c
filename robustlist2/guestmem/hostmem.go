package guestmem

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/debug"
	"unsafe"
)

// This file holds the code that dereferences host addresses (InProcess
// inlines the same pattern into its methods). Every access turns a memory
// fault (SIGSEGV, SIGBUS) into ErrFault instead of crashing:
// runtime/debug.SetPanicOnFault is set for the duration of the access and
// restored afterwards (the setting belongs to the goroutine). Callers
// check ranges and alignment first.
//
// The guard is most of an access's cost: two runtime calls, a deferred
// call, and the stack stores the defer needs, which a locked
// compare-and-swap must wait for.

// hostPtr turns an integer host address into a pointer. Reading the
// integer's bits as a pointer, instead of converting uintptr to
// unsafe.Pointer, keeps go vet quiet and keeps checkptr (-race) from
// treating a low guest address as bad pointer arithmetic. The memory is
// never Go memory, so the collector ignores the value.
func hostPtr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// A guarded access runs between faultOn and faultOff, with
// "defer faultCatch(prev, &done, &err)" (or faultCatchAt) installed in the
// same frame:
//
//	prev := faultOn()
//	done := false
//	defer faultCatch(prev, &done, &err)
//	... the access ...
//	faultOff(prev, &done)
//
// When the access completes, faultOff restores the setting and marks the
// access done, and the deferred faultCatch has nothing to do: the common
// path never calls recover. When the access faults, the panic runs
// faultCatch before faultOff, which restores the setting and turns the
// panic into ErrFault. The calls order the access: it is scheduled before
// faultOff, which writes memory.

// faultOn makes a memory fault of this goroutine panic, and returns the
// previous setting.
func faultOn() bool { return debug.SetPanicOnFault(true) }

// faultOff ends a completed access.
func faultOff(prev bool, done *bool) {
	debug.SetPanicOnFault(prev)
	*done = true
}

// faultCatch turns the panic of a memory fault in an access that did not
// complete into ErrFault. Any other panic is not ours and goes on.
func faultCatch(prev bool, done *bool, err *error) {
	if *done {
		return
	}
	debug.SetPanicOnFault(prev)
	*err = faultErr(recover())
}

// faultCatchAt is faultCatch reporting an *AccessError for op at addr.
func faultCatchAt(prev bool, done *bool, err *error, op string, addr uint64, size int) {
	if *done {
		return
	}
	debug.SetPanicOnFault(prev)
	*err = accessErr(op, addr, size, faultErr(recover()))
}

// faultErr turns a recovered memory fault into ErrFault, and panics
// again with anything else.
func faultErr(r any) error {
	re, ok := r.(runtime.Error)
	if !ok {
		panic(r)
	}
	return fmt.Errorf("%w: %v", ErrFault, re)
}

// load32 reads the little-endian 32-bit word at host address u, aligned
// or not. Unguarded: the caller guards.
func load32(u uintptr) uint32 {
	if u&3 == 0 {
		return *(*uint32)(hostPtr(u))
	}
	return loadBytes(u, 4)
}

// load64 reads the little-endian 64-bit word at host address u, aligned
// or not. Unguarded.
func load64(u uintptr) uint64 {
	if u&7 == 0 {
		return *(*uint64)(hostPtr(u))
	}
	return uint64(loadBytes(u, 4)) | uint64(loadBytes(u+4, 4))<<32
}

// store32 writes the little-endian 32-bit word v at host address u.
// Unguarded.
func store32(u uintptr, v uint32) {
	if u&3 == 0 {
		*(*uint32)(hostPtr(u)) = v
		return
	}
	storeBytes(u, uint64(v), 4)
}

// store64 writes the little-endian 64-bit word v at host address u.
// Unguarded.
func store64(u uintptr, v uint64) {
	if u&7 == 0 {
		*(*uint64)(hostPtr(u)) = v
		return
	}
	storeBytes(u, v, 8)
}

// loadBytes reads n (<= 4) bytes one at a time, little-endian: the
// unaligned path, portable to hosts that trap on unaligned words.
func loadBytes(u uintptr, n uintptr) uint32 {
	var v uint32
	for i := range n {
		v |= uint32(*(*byte)(hostPtr(u + i))) << (8 * i)
	}
	return v
}

// storeBytes writes the n low bytes of v one at a time, little-endian.
func storeBytes(u uintptr, v uint64, n uintptr) {
	for i := range n {
		*(*byte)(hostPtr(u + i)) = byte(v >> (8 * i))
	}
}

// hostLoad32 is load32, guarded.
func hostLoad32(u uintptr) (v uint32, err error) {
	prev, done := faultOn(), false
	defer faultCatch(prev, &done, &err)
	v = load32(u)
	faultOff(prev, &done)
	return v, nil
}

// hostLoad64 is load64, guarded.
func hostLoad64(u uintptr) (v uint64, err error) {
	prev, done := faultOn(), false
	defer faultCatch(prev, &done, &err)
	v = load64(u)
	faultOff(prev, &done)
	return v, nil
}

// hostStore32 is store32, guarded.
func hostStore32(u uintptr, v uint32) (err error) {
	prev, done := faultOn(), false
	defer faultCatch(prev, &done, &err)
	store32(u, v)
	faultOff(prev, &done)
	return nil
}

// hostStore64 is store64, guarded.
func hostStore64(u uintptr, v uint64) (err error) {
	prev, done := faultOn(), false
	defer faultCatch(prev, &done, &err)
	store64(u, v)
	faultOff(prev, &done)
	return nil
}

// hostCAS32 is cas32 on the 4-byte aligned host address u, guarded.
func hostCAS32(u uintptr, old, new uint32) (prev uint32, err error) {
	was, done := faultOn(), false
	defer faultCatch(was, &done, &err)
	prev = cas32(hostPtr(u), old, new)
	faultOff(was, &done)
	return prev, nil
}

// checkHostEndian fails on a big-endian host: the primitives above load
// guest (x86, little-endian) words natively.
func checkHostEndian() error {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	if probe[0] != 1 {
		return fmt.Errorf("guestmem: big-endian host %s is not supported: %w", runtime.GOARCH, ErrInvalid)
	}
	return nil
}
