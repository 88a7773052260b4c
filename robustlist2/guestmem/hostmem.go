package guestmem

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/debug"
	"unsafe"
)

// This file holds the only code that dereferences host addresses. Each
// primitive turns a memory fault (SIGSEGV, SIGBUS) into ErrFault instead of
// crashing: runtime/debug.SetPanicOnFault is set for the duration of the
// access and restored afterwards (the setting belongs to the goroutine).
// Callers check ranges and alignment first.

// hostPtr turns an integer host address into a pointer. Reading the
// integer's bits as a pointer, instead of converting uintptr to
// unsafe.Pointer, keeps go vet quiet and keeps checkptr (-race) from
// treating a low guest address as bad pointer arithmetic. The memory is
// never Go memory, so the collector ignores the value.
func hostPtr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// guard ends a guarded access: it restores the goroutine's panic-on-fault
// setting and turns the panic of a memory fault into ErrFault. Any other
// panic is not ours and goes on.
func guard(prev bool, err *error) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		re, ok := r.(runtime.Error)
		if !ok {
			panic(r)
		}
		*err = fmt.Errorf("%w: %v", ErrFault, re)
	}
}

// hostLoad32 reads the little-endian 32-bit word at host address u,
// aligned or not.
func hostLoad32(u uintptr) (v uint32, err error) {
	defer guard(debug.SetPanicOnFault(true), &err)
	if u&3 == 0 {
		return *(*uint32)(hostPtr(u)), nil
	}
	return uint32(loadByte(u)) | uint32(loadByte(u+1))<<8 |
		uint32(loadByte(u+2))<<16 | uint32(loadByte(u+3))<<24, nil
}

// hostLoad64 reads the little-endian 64-bit word at host address u,
// aligned or not.
func hostLoad64(u uintptr) (v uint64, err error) {
	defer guard(debug.SetPanicOnFault(true), &err)
	if u&7 == 0 {
		return *(*uint64)(hostPtr(u)), nil
	}
	for i := uintptr(0); i < 8; i++ {
		v |= uint64(loadByte(u+i)) << (8 * i)
	}
	return v, nil
}

// hostStore32 writes the little-endian 32-bit word v at host address u.
func hostStore32(u uintptr, v uint32) (err error) {
	defer guard(debug.SetPanicOnFault(true), &err)
	if u&3 == 0 {
		*(*uint32)(hostPtr(u)) = v
		return nil
	}
	for i := uintptr(0); i < 4; i++ {
		*(*byte)(hostPtr(u + i)) = byte(v >> (8 * i))
	}
	return nil
}

// hostStore64 writes the little-endian 64-bit word v at host address u.
func hostStore64(u uintptr, v uint64) (err error) {
	defer guard(debug.SetPanicOnFault(true), &err)
	if u&7 == 0 {
		*(*uint64)(hostPtr(u)) = v
		return nil
	}
	for i := uintptr(0); i < 8; i++ {
		*(*byte)(hostPtr(u + i)) = byte(v >> (8 * i))
	}
	return nil
}

// hostCAS32 atomically replaces the 32-bit word at the 4-byte aligned
// host address u with new if it holds old, and returns the value it held.
func hostCAS32(u uintptr, old, new uint32) (prev uint32, err error) {
	defer guard(debug.SetPanicOnFault(true), &err)
	return cas32(hostPtr(u), old, new), nil
}

func loadByte(u uintptr) byte { return *(*byte)(hostPtr(u)) }

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
