//go:build !race || !amd64

package guestmem

import (
	"sync/atomic"
	"unsafe"
)

// cas32 is the futex compare-and-swap: it atomically replaces *p with new
// if *p == old and returns the value *p held (== old iff it swapped), in
// the way the kernel's futex cmpxchg reports it. The answer is
// linearizable: either the load that saw a different value, or the swap.
//
// Known limit: with the race detector on an architecture other than amd64,
// sync/atomic runs the access inside the detector's C runtime, where a
// fault (a read-only page) kills the process instead of panicking; amd64
// race builds use cas_race_amd64.s instead.
func cas32(p unsafe.Pointer, old, new uint32) uint32 {
	w := (*uint32)(p)
	for {
		cur := atomic.LoadUint32(w)
		if cur != old {
			return cur
		}
		if atomic.CompareAndSwapUint32(w, old, new) {
			return old
		}
	}
}
