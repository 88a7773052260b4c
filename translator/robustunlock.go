package translator

import (
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
)

// The robust unlock of 2026 kernels: FUTEX_ROBUST_UNLOCK with FUTEX_WAKE,
// FUTEX_WAKE_BITSET or FUTEX_UNLOCK_PI releases the futex word, clears
// the thread's list_op_pending (uaddr2) and wakes, in one syscall, so a
// thread can no longer die between the release and the clear:
//
//	futex(uaddr, FUTEX_WAKE | FUTEX_ROBUST_UNLOCK [| FUTEX_ROBUST_LIST32],
//	      nr_wake, NULL, &head->list_op_pending, bitset)
//
// A host kernel without it (6.18 here) answers ENOSYS; fexrl performs it
// for the guest from primitives every host has.

// RobustUnlock is one decoded robust-unlock futex call.
type RobustUnlock struct {
	// Uaddr is the futex word.
	Uaddr uint64
	// Cmd is abi.FutexWake, abi.FutexWakeBitset or abi.FutexUnlockPI.
	Cmd int
	// Private is FUTEX_PRIVATE_FLAG.
	Private bool
	// NrWake is how many waiters to wake (val); 0 means 1, as sys_futex
	// has always read it.
	NrWake int
	// Bitset selects waiters (FUTEX_BITSET_MATCH_ANY for FUTEX_WAKE).
	Bitset uint32
	// Pop is the list_op_pending slot to clear (uaddr2).
	Pop uint64
	// Pop32 says the slot is 32 bits wide (FUTEX_ROBUST_LIST32, and
	// always for a 32-bit guest: its pointers are 32-bit).
	Pop32 bool
}

// FutexOps are the primitives a robust unlock is made of, performed in
// the calling guest thread's context.
type FutexOps interface {
	// StoreRelease32 atomically stores v at addr with release order.
	StoreRelease32(addr uint64, v uint32) error
	// Wake wakes up to n waiters on addr whose bitset matches.
	Wake(addr uint64, n int, bitset uint32, private bool) (int, error)
	// UnlockPI performs FUTEX_UNLOCK_PI on addr and returns its result
	// (0 or a negative errno).
	UnlockPI(addr uint64, private bool) int64
	// ClearPending stores a NULL of 32 or 64 bits at pop.
	ClearPending(pop uint64, pop32 bool) error
}

// IsRobustUnlockOp reports whether a futex op word asks for one of the
// robust unlock flags (FUTEX_ROBUST_UNLOCK or FUTEX_ROBUST_LIST32), which
// a host without them would reject.
func IsRobustUnlockOp(op uint32) bool {
	return op&(abi.FutexRobustUnlock|abi.FutexRobustList32) != 0
}

// DecodeRobustUnlock reads a futex call of the ABI a whose op carries a
// robust unlock flag. It returns the call, or the errno the kernel gives:
// ENOSYS for FUTEX_ROBUST_UNLOCK with any other command, EINVAL for a
// zero bitset or a negative nr_wake. An op with FUTEX_ROBUST_LIST32 but
// without FUTEX_ROBUST_UNLOCK is a plain futex call to current kernels
// (the flag only qualifies an unlock): plain is then true and op is the
// op word with the flag removed.
func DecodeRobustUnlock(c Call) (ru RobustUnlock, plain bool, op uint32, errno unix.Errno) {
	op = uint32(c.Args[1])
	if op&abi.FutexRobustUnlock == 0 {
		return RobustUnlock{}, true, op &^ abi.FutexRobustList32, 0
	}
	cmd := int(int32(op) & abi.FutexCmdMask)
	if op&abi.FutexClockRealtime != 0 {
		// FUTEX_CLOCK_REALTIME is only for the wait commands.
		return RobustUnlock{}, false, op, unix.ENOSYS
	}
	ru = RobustUnlock{
		Uaddr:   c.Args[0],
		Cmd:     cmd,
		Private: op&abi.FutexPrivateFlag != 0,
		Pop:     c.Args[4],
		Pop32:   op&abi.FutexRobustList32 != 0 || c.ABI.Bits == abi.Bits32,
	}
	if c.ABI.Bits == abi.Bits32 {
		ru.Uaddr, ru.Pop = uint64(uint32(ru.Uaddr)), uint64(uint32(ru.Pop))
	}
	switch cmd {
	case abi.FutexWake, abi.FutexWakeBitset:
		n := int32(uint32(c.Args[2]))
		ru.Bitset = abi.FutexBitsetMatchAny
		if cmd == abi.FutexWakeBitset {
			ru.Bitset = uint32(c.Args[5])
		}
		if ru.Bitset == 0 || n < 0 {
			return RobustUnlock{}, false, op, unix.EINVAL
		}
		if n == 0 {
			n = 1
		}
		ru.NrWake = int(n)
	case abi.FutexUnlockPI:
	default:
		return RobustUnlock{}, false, op, unix.ENOSYS
	}
	return ru, false, op, 0
}

// HostOp is the op word to pass to a host kernel that has the robust
// unlock API itself: the guest's own, plus FUTEX_ROBUST_LIST32 for a
// 32-bit guest, whose pending slot is 32 bits wide even where it did not
// say so (the host, a 64-bit kernel, would otherwise clear 64 bits).
func HostOp(c Call) uint32 {
	op := uint32(c.Args[1])
	if c.ABI.Bits == abi.Bits32 && op&abi.FutexRobustUnlock != 0 {
		op |= abi.FutexRobustList32
	}
	return op
}

// Perform carries out the robust unlock with ops, in the kernel's order:
// release the word (store 0), wake, clear the pending slot. A fault on
// the word or on the slot is EFAULT (the kernel too reports a slot it
// could not clear only after it woke the waiters). For FUTEX_UNLOCK_PI,
// the PI unlock's own error comes back and the slot is left alone.
func (ru RobustUnlock) Perform(ops FutexOps) Result {
	if ru.Cmd == abi.FutexUnlockPI {
		if r := ops.UnlockPI(ru.Uaddr, ru.Private); r != 0 {
			return Result(r)
		}
		if ops.ClearPending(ru.Pop, ru.Pop32) != nil {
			return Result(-int64(unix.EFAULT))
		}
		return 0
	}
	if ru.Uaddr%4 != 0 {
		return Result(-int64(unix.EINVAL))
	}
	if ops.StoreRelease32(ru.Uaddr, 0) != nil {
		return Result(-int64(unix.EFAULT))
	}
	n, err := ops.Wake(ru.Uaddr, ru.NrWake, ru.Bitset, ru.Private)
	if err != nil {
		if e, ok := err.(unix.Errno); ok {
			return Result(-int64(e))
		}
		return Result(-int64(unix.EFAULT))
	}
	if ops.ClearPending(ru.Pop, ru.Pop32) != nil {
		return Result(-int64(unix.EFAULT))
	}
	return Result(n)
}
