package guestmem

import "fmt"

// ProcessWaker wakes futex waiters on the words of a Process.
//
// For a word in a MAP_SHARED mapping fexrl reaches (Process.Shared), it
// issues a shared FUTEX_WAKE on its own mapping of the object: the kernel
// keys such a futex by object and offset, so this wakes the waiters of
// every process that maps it, traced or not. A word in private memory is
// keyed by the target's address space, which fexrl cannot name from
// outside: Wake then calls the fallback supplied by the caller (the
// adapter injects a futex syscall into a stopped thread of the target),
// or, without one, fails with ErrPrivateWake.
type ProcessWaker struct {
	proc     *Process
	fallback func(addr uint64, n int) (int, error)
}

// NewProcessWaker returns a waker for the words of proc. fallback, which
// may be nil, wakes a word fexrl cannot wake from outside; it is called
// without any lock held.
func NewProcessWaker(proc *Process, fallback func(addr uint64, n int) (int, error)) *ProcessWaker {
	return &ProcessWaker{proc: proc, fallback: fallback}
}

// Wake wakes at most n waiters blocked in FUTEX_WAIT on the 32-bit word
// at addr (4-byte aligned) and returns how many it woke. n == 0 wakes
// nobody. An unmapped word fails with ErrFault.
func (w *ProcessWaker) Wake(addr uint64, n int) (int, error) {
	n, err := wakeCount(addr, n)
	if err != nil {
		return 0, err
	}
	if addr&3 != 0 {
		return 0, accessErr(opWake, addr, 4, ErrMisaligned)
	}
	woken, why, err := w.wakeShared(addr, n)
	if why == nil || n == 0 {
		return woken, err
	}
	if w.fallback == nil {
		return 0, accessErr(opWake, addr, 4, why)
	}
	return w.fallback(addr, n)
}

// wakeShared wakes through fexrl's mapping. When it cannot, it returns
// in why a reason wrapping ErrPrivateWake, and the fallback applies.
func (w *ProcessWaker) wakeShared(addr uint64, n int) (woken int, why, err error) {
	p := w.proc
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, err := p.locate(opWake, addr, 4)
	if err != nil {
		return 0, nil, err
	}
	switch pl.kind {
	case placeUnmapped:
		return 0, nil, unmappedErr(opWake, addr, 4)
	case placeShared:
		if n == 0 {
			return 0, nil, nil
		}
		woken, err := hostFutexWake(pl.obj.hostAddr(addr), n)
		if err != nil {
			return 0, nil, accessErr(opWake, addr, 4, err)
		}
		return woken, nil, nil
	case placeUnreachable:
		return 0, fmt.Errorf("%w (shared mapping fexrl cannot map: %v)", ErrPrivateWake, pl.err), nil
	}
	return 0, ErrPrivateWake, nil
}
