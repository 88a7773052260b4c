package guestmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// futexWakeOp is FUTEX_WAKE without FUTEX_PRIVATE_FLAG: the kernel keys a
// shared futex by the backing object and offset (or mm and address for
// private anonymous memory), which is what robust-list wakes use.
const futexWakeOp = 1

// hostFutexWake wakes at most n (> 0) waiters on the futex word at host
// address u. The kernel validates the address: a bad one is EFAULT, never
// a crash.
func hostFutexWake(u uintptr, n int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, u, futexWakeOp, uintptr(n), 0, 0, 0)
	if e != 0 {
		if e == unix.EFAULT {
			return 0, fmt.Errorf("%w: futex: %v", ErrFault, e)
		}
		return 0, fmt.Errorf("futex: %w", e)
	}
	return int(r), nil
}
