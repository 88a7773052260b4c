package robustlist2

// Memory is a guest's memory as fexrl touches it: addresses are guest
// virtual addresses. Every method fails with an error (a fault, for the
// kernel's semantics) instead of touching memory the guest does not own;
// none of them panics on a bad address.
//
// Implementations live in robustlist2/guestmem: in-process (the emulator
// shares the guest's address space), another process (the ptrace
// adapter), and simulated (replay and tests).
type Memory interface {
	// Load32 reads the 32-bit little-endian word at addr.
	Load32(addr uint64) (uint32, error)
	// Load64 reads the 64-bit little-endian word at addr.
	Load64(addr uint64) (uint64, error)
	// Store32 writes the 32-bit little-endian word at addr.
	Store32(addr uint64, v uint32) error
	// Store64 writes the 64-bit little-endian word at addr.
	Store64(addr uint64, v uint64) error
	// CompareAndSwap32 atomically replaces the 32-bit word at addr with
	// new if it holds old, and returns the value the word held before the
	// operation, as the kernel's futex cmpxchg does: the swap happened if
	// and only if prev == old.
	CompareAndSwap32(addr uint64, old, new uint32) (prev uint32, err error)
}

// Waker wakes tasks blocked in FUTEX_WAIT on a guest address. The kernel
// never sets FUTEX_PRIVATE_FLAG for robust-list wakes, and glibc relies on
// that, so implementations wake shared (process-wide key) waiters.
type Waker interface {
	// Wake wakes at most n waiters on the futex word at addr and returns
	// how many it woke.
	Wake(addr uint64, n int) (int, error)
}

// WalkSessioner is a Memory that can serve one walk faster than access by
// access (guestmem.InProcess guards each page once per walk instead of
// each access). The walker calls WalkSession at the start of a walk, uses
// the returned Memory for the walk on the calling goroutine, and calls
// end when the walk is over. Such a memory may panic with a runtime.Error
// that has an Addr method when a page it saw working faults later (a
// concurrent unmap): the walker recovers that and reports a fault.
type WalkSessioner interface {
	WalkSession() (mem any, end func())
}
