package guestmem

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package for a memory
// access is an *AccessError wrapping one of these, so callers test them
// with errors.Is.
var (
	// ErrOutside: the access is not entirely inside one of the guest's
	// ranges (InProcess, FutexWaker), or its address cannot be expressed
	// on this host (a 64-bit address on a 32-bit host).
	ErrOutside = errors.New("outside the guest's memory")
	// ErrMisaligned: a futex word (compare-and-swap, wake) whose address
	// is not a multiple of 4.
	ErrMisaligned = errors.New("futex word not 4-byte aligned")
	// ErrFault: the memory is unmapped, or its protection forbids the
	// access, or a transfer was partial.
	ErrFault = errors.New("memory fault")
	// ErrExited: the target process has exited.
	ErrExited = errors.New("process has exited")
	// ErrClosed: the Process was closed.
	ErrClosed = errors.New("process memory closed")
	// ErrPrivateWake: the futex word lies in another process's private
	// memory, which only a thread of that process can wake, and no
	// fallback was supplied.
	ErrPrivateWake = errors.New("private futex of another process: cannot wake from outside")
	// ErrInvalid: an invalid argument (negative wake count, bad range).
	ErrInvalid = errors.New("invalid argument")
)

// AccessError describes a failed access to guest memory.
type AccessError struct {
	// Op is the operation: "load32", "load64", "store32", "store64",
	// "cas32", "wake", "read" or "write".
	Op string
	// Addr is the guest address of the access and Size its length in
	// bytes.
	Addr uint64
	Size int
	// Err is the cause; it wraps one of the package's sentinel errors.
	Err error
}

// Error returns a one-line description.
func (e *AccessError) Error() string {
	return fmt.Sprintf("guestmem: %s at %#x (%d bytes): %v", e.Op, e.Addr, e.Size, e.Err)
}

// Unwrap returns the cause.
func (e *AccessError) Unwrap() error { return e.Err }

// accessErr builds an *AccessError.
func accessErr(op string, addr uint64, size int, err error) error {
	return &AccessError{Op: op, Addr: addr, Size: size, Err: err}
}

// Operation names used in errors.
const (
	opLoad32  = "load32"
	opLoad64  = "load64"
	opStore32 = "store32"
	opStore64 = "store64"
	opCAS32   = "cas32"
	opWake    = "wake"
	opRead    = "read"
	opWrite   = "write"
)
