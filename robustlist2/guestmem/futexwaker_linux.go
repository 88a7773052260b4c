package guestmem

// FutexWaker wakes futex waiters on the guest words of an InProcess
// memory: a real FUTEX_WAKE, shared (no FUTEX_PRIVATE_FLAG, as the kernel
// does for robust lists), on host address guest+base. Only words inside
// the guest's ranges are woken. It is safe for concurrent use.
type FutexWaker struct {
	mem *InProcess
}

// NewFutexWaker returns a waker for the guest words of mem (same ranges,
// same base).
func NewFutexWaker(mem *InProcess) *FutexWaker { return &FutexWaker{mem: mem} }

// Wake wakes at most n waiters blocked in FUTEX_WAIT on the 32-bit word at
// addr and returns how many it woke. addr must be 4-byte aligned and
// inside the guest's ranges; n == 0 wakes nobody (the kernel would wake
// one).
func (w *FutexWaker) Wake(addr uint64, n int) (int, error) {
	n, err := wakeCount(addr, n)
	if err != nil {
		return 0, err
	}
	if addr&3 != 0 {
		return 0, accessErr(opWake, addr, 4, ErrMisaligned)
	}
	u, ok := w.mem.host(addr, 4)
	if !ok && !w.mem.set.search(addr, 4) {
		return 0, outside(opWake, addr, 4)
	}
	if n == 0 {
		return 0, nil
	}
	woken, err := hostFutexWake(u, n)
	if err != nil {
		return 0, accessErr(opWake, addr, 4, err)
	}
	return woken, nil
}
