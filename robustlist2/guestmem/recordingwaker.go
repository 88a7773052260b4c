package guestmem

import (
	"slices"
	"sync"
)

// WakeCall is one call to RecordingWaker.Wake.
type WakeCall struct {
	Addr  uint64
	N     int   // waiters asked for
	Woken int   // waiters reported woken
	Err   error // error returned, if any
}

// RecordingWaker records every Wake call, in order, and simulates the
// waiters: each address has a number of blocked waiters, 0 unless set
// with AddWaiters, and a wake of n reports min(n, waiters) woken and
// removes them. So by default nobody is waiting and Wake returns 0, as a
// real futex wake with no waiter does. The zero value is ready to use; it
// is safe for concurrent use.
type RecordingWaker struct {
	mu      sync.Mutex
	calls   []WakeCall
	waiters map[uint64]int
	fail    map[uint64]error
}

// AddWaiters adds n (possibly negative) waiters blocked at addr.
func (w *RecordingWaker) AddWaiters(addr uint64, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters == nil {
		w.waiters = make(map[uint64]int)
	}
	w.waiters[addr] = max(0, w.waiters[addr]+n)
}

// Waiters returns how many waiters are still blocked at addr.
func (w *RecordingWaker) Waiters(addr uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiters[addr]
}

// FailOn makes every later Wake at addr fail with err (recorded, nobody
// woken); a nil err removes the failure.
func (w *RecordingWaker) FailOn(addr uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		delete(w.fail, addr)
		return
	}
	if w.fail == nil {
		w.fail = make(map[uint64]error)
	}
	w.fail[addr] = err
}

// Wake records the call and wakes min(n, waiters at addr) simulated
// waiters. A negative n fails with ErrInvalid.
func (w *RecordingWaker) Wake(addr uint64, n int) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	call := WakeCall{Addr: addr, N: n}
	switch {
	case n < 0:
		_, call.Err = wakeCount(addr, n)
	case w.fail[addr] != nil:
		call.Err = w.fail[addr]
	default:
		call.Woken = min(n, w.waiters[addr])
		if call.Woken > 0 {
			w.waiters[addr] -= call.Woken
		}
	}
	w.calls = append(w.calls, call)
	return call.Woken, call.Err
}

// Calls returns every Wake call so far, in order.
func (w *RecordingWaker) Calls() []WakeCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// Reset forgets the recorded calls (the waiters stay).
func (w *RecordingWaker) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = nil
}
