//go:build linux && amd64

package adapter

import (
	"go.uber.org/zap"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/translator"
)

// injectedFutex performs a robust unlock's primitives in the guest thread
// itself, with futex syscalls injected at its trapped futex call: only a
// thread of the guest's address space can reach its private futexes.
type injectedFutex struct {
	in  *injector
	mem robustlist2.Memory
}

func (f injectedFutex) futex(uaddr uint64, op int, val, val2, uaddr2, val3 uint64) (int64, error) {
	return f.in.syscall(f.in.abi.Syscalls.Futex, uaddr, uint64(op), val, val2, uaddr2, val3)
}

func private(p bool) int {
	if p {
		return abi.FutexPrivateFlag
	}
	return 0
}

// StoreRelease32 stores with FUTEX_WAKE_OP, the kernel's atomic store in
// the guest's context: *addr = v (FUTEX_OP_SET), compared with -1
// (FUTEX_OP_CMP_EQ, never true of a futex word: no TID is that large)
// so no waiter of addr is woken, and the first futex a spot below the
// thread's stack, where no one waits, since FUTEX_WAKE_OP wakes one
// waiter there even when told to wake none.
func (f injectedFutex) StoreRelease32(addr uint64, v uint32) error {
	const futexWakeOp = 5
	scratch, err := f.in.stackScratch()
	if err != nil {
		return err
	}
	encoded := uint64(v&0xfff)<<12 | 0xfff // SET v, CMP_EQ, cmparg -1
	r, err := f.futex(scratch, futexWakeOp|private(true), 0, 0, addr, encoded)
	if err != nil {
		return err
	}
	if r < 0 {
		return errnoOf(r)
	}
	return nil
}

func (f injectedFutex) Wake(addr uint64, n int, bitset uint32, priv bool) (int, error) {
	r, err := f.futex(addr, abi.FutexWakeBitset|private(priv), uint64(n), 0, 0, uint64(bitset))
	if err != nil {
		return 0, err
	}
	if r < 0 {
		return 0, errnoOf(r)
	}
	return int(r), nil
}

func (f injectedFutex) UnlockPI(addr uint64, priv bool) int64 {
	r, err := f.futex(addr, abi.FutexUnlockPI|private(priv), 0, 0, 0, 0)
	if err != nil {
		return -14 // EFAULT
	}
	return r
}

func (f injectedFutex) ClearPending(pop uint64, pop32 bool) error {
	if pop32 {
		return f.mem.Store32(pop, 0)
	}
	return f.mem.Store64(pop, 0)
}

// Offsets in struct user_regs_struct of the registers that carry a
// syscall's second argument (the futex op): %ecx for the i386 ABI, %rsi
// for the x86-64 one.
const (
	userRCX = 11 * 8
	userRSI = 13 * 8
)

// robustUnlock handles a futex call that carries FUTEX_ROBUST_UNLOCK or
// FUTEX_ROBUST_LIST32: passed to a host kernel that has them, performed
// by fexrl on one that does not.
func (t *tracer) robustUnlock(tk *task, call translator.Call) error {
	if t.hostUnlock {
		return t.hostRobustUnlock(tk, call)
	}
	ru, plain, op, errno := translator.DecodeRobustUnlock(call)
	in := &injector{t: t, tk: tk, abi: call.ABI}
	var res int64
	switch {
	case plain:
		// FUTEX_ROBUST_LIST32 without FUTEX_ROBUST_UNLOCK qualifies
		// nothing: run the call without it.
		args := call.Args
		args[1] = uint64(op)
		r, err := in.syscall(call.Nr, args[:]...)
		if err != nil {
			t.log.Warn("futex call could not be run", zap.Int32("tid", tk.tid), zap.Error(err))
		}
		res = r
	case errno != 0:
		res = -int64(errno)
	default:
		res = int64(ru.Perform(injectedFutex{in: in, mem: t.memFor(tk)}))
	}
	t.noteSyscall(tk, call, translator.KindFutex, true, res)
	if err := in.complete(res); err != nil {
		t.log.Warn("finishing an emulated robust unlock", zap.Int32("tid", tk.tid), zap.Error(err))
		return t.resume(tk, 0)
	}
	return nil
}

// hostRobustUnlock lets the host kernel run a robust unlock, telling it
// that a 32-bit guest's pending slot is 32 bits wide.
func (t *tracer) hostRobustUnlock(tk *task, call translator.Call) error {
	op := translator.HostOp(call)
	if op != uint32(call.Args[1]) {
		off := uintptr(userRSI)
		if call.ABI.Bits == abi.Bits32 {
			off = userRCX
		}
		if err := pokeUser(tk.tid, off, uint64(op)); err != nil {
			t.log.Warn("adding FUTEX_ROBUST_LIST32 to a robust unlock", zap.Int32("tid", tk.tid), zap.Error(err))
		}
	}
	t.log.Debug("robust unlock passed to the host", zap.Int32("tid", tk.tid), zap.Uint32("op", op))
	t.noteSyscall(tk, call, translator.KindFutex, false, 0)
	return t.resume(tk, 0)
}
