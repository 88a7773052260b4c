//go:build cgo

// Command capi is fexrl's C ABI: built with
//
//	go build -buildmode=c-archive -o libfexrl.a ./emulator-shim/capi
//
// it gives a static library and a header, libfexrl.h, for emulators
// written in C or C++. The header's first part (below) is the hand-written
// contract; cgo appends the function prototypes.
package main

/*
#include <stdint.h>
#include <stddef.h>

// fexrl C ABI: robust futexes for x86 and x86-64 guests of an emulator.
//
// OWNERSHIP. fexrl_new returns a handle (never 0 on success) that owns a
// fexrl instance; fexrl_free releases it. Every other call takes that handle
// and borrows the caller's pointers only for the duration of the call: fexrl
// keeps no pointer to caller memory, except to the guest memory ranges
// given to fexrl_new, which must stay mapped (or become PROT_NONE, which
// fexrl survives) for the life of the handle. Guest memory is the
// emulator's address space: guest address A is host address A + guest_base.
//
// THREADING. All calls are safe from any number of threads at once; the
// syscall hook is meant to be called on the thread that runs the guest
// thread. fexrl never blocks on anything but guest memory. A handle must not
// be freed while other calls on it are running.
//
// RETURN VALUES. Functions return 0 or a positive value on success and a
// negative errno on failure (-EINVAL for a bad handle or argument).

// fexrl_range is the guest address range [start, end).
struct fexrl_range {
	uint64_t start;
	uint64_t end;
};

// fexrl_death describes a guest thread's registers when it died; pass NULL
// when unknown. With it, fexrl recognises a thread killed inside a robust
// unlock after it released the word, and never writes that word.
struct fexrl_death {
	int32_t mode;             // 32 or 64: the code the thread was running
	uint64_t ip;              // guest instruction pointer
	uint64_t thread_pointer;  // %fs base (x86-64) or %gs base (i386)
	uint64_t regs[16];        // rax rcx rdx rbx rsp rbp rsi rdi r8..r15
	uint64_t flags;           // rflags
};

// fexrl_try_unlock describes one of the vDSO functions
//   u32 __vdso_futex_robust_list64_try_unlock(u32 *lock, u32 tid, u64 *pop);
//   u32 __vdso_futex_robust_list32_try_unlock(u32 *lock, u32 tid, u32 *pop);
// as fexrl's machine code, for an emulator to place in its guest vDSO.
struct fexrl_try_unlock {
	uint32_t size;          // bytes of code (at most 64)
	uint32_t fixup_start;   // the fixup range, offsets into code: a thread
	uint32_t fixup_end;     //   stopped there with ZF set released the word
	uint8_t code[64];       // position-independent
	char symbol[48];        // the vDSO symbol it implements
};

// fexrl_exit_summary says what fexrl did for one dead thread.
struct fexrl_exit_summary {
	uint32_t lists;       // lists walked
	uint32_t entries;     // list entries visited
	uint32_t marked;      // futex words set to FUTEX_OWNER_DIED
	uint32_t woken;       // waiters woken
	uint32_t limit_hits;  // lists longer than the walk limit
	uint32_t faults;      // walks that stopped on a bad list
};

// fexrl_stats are an instance's counters.
struct fexrl_stats {
	int64_t tasks;
	int64_t lists_registered;
	int64_t walks;
	int64_t entries_walked;
	int64_t owner_died_marked;
	int64_t woken;
	int64_t limit_hits;
};

// Causes of a thread's death, for fexrl_task_exited.
enum {
	FEXRL_EXIT = 0,        // the thread called exit
	FEXRL_EXIT_GROUP = 1,  // its process called exit_group
	FEXRL_SIGNAL = 2,      // a fatal signal killed it
};

// Flags for fexrl_new.
enum {
	FEXRL_NO_ROBUST_LIST2 = 1,  // answer set_robust_list2 with ENOSYS
	FEXRL_UNBOUNDED = 2,        // walk past 2048 entries, stop on cycles
};
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

func main() {}

func lookup(h C.uint64_t) (*shim.Shim, bool) {
	if h == 0 {
		return nil, false
	}
	defer func() { _ = recover() }() // a stale or forged handle
	s, ok := cgo.Handle(h).Value().(*shim.Shim)
	return s, ok
}

func neg(e unix.Errno) C.int { return C.int(-int(e)) }

//export fexrl_new
func fexrl_new(ranges *C.struct_fexrl_range, n C.size_t, guestBase C.uint64_t, flags C.uint32_t) C.uint64_t {
	if ranges == nil || n == 0 || n > 1<<20 {
		return 0
	}
	rs := unsafe.Slice(ranges, int(n))
	gr := make([]guestmem.Range, len(rs))
	for i, r := range rs {
		gr[i] = guestmem.Range{Start: uint64(r.start), End: uint64(r.end)}
	}
	mem, err := guestmem.NewInProcess(gr, uint64(guestBase))
	if err != nil {
		return 0
	}
	cfg := shim.Config{Memory: mem, Waker: guestmem.NewFutexWaker(mem)}
	cfg.NoRobustList2 = flags&C.FEXRL_NO_ROBUST_LIST2 != 0
	cfg.Walk.Unbounded = flags&C.FEXRL_UNBOUNDED != 0
	return C.uint64_t(cgo.NewHandle(shim.New(cfg)))
}

//export fexrl_free
func fexrl_free(h C.uint64_t) {
	if _, ok := lookup(h); ok {
		cgo.Handle(h).Delete()
	}
}

//export fexrl_task_started
func fexrl_task_started(h C.uint64_t, tid, tgid C.int32_t) C.int {
	s, ok := lookup(h)
	if !ok {
		return neg(unix.EINVAL)
	}
	s.TaskStarted(int32(tid), int32(tgid))
	return 0
}

//export fexrl_task_created
func fexrl_task_created(h C.uint64_t, parent, child, childTGID C.int32_t) C.int {
	s, ok := lookup(h)
	if !ok {
		return neg(unix.EINVAL)
	}
	s.TaskCreated(int32(parent), int32(child), int32(childTGID))
	return 0
}

// fexrl_syscall offers a guest syscall: abi_bits is 32 (the i386 ABI:
// int $0x80, sysenter, the vDSO) or 64 (x86-64 syscall); args are the six
// argument registers, zero-extended. It returns 1 and stores the guest's
// return value (a value or -errno) in *ret when fexrl handled the
// syscall, 0 when the emulator must perform it as usual.
//
//export fexrl_syscall
func fexrl_syscall(h C.uint64_t, tid C.int32_t, abiBits C.int, nr C.int64_t, args *C.uint64_t, ret *C.int64_t) C.int {
	s, ok := lookup(h)
	if !ok || args == nil || ret == nil {
		return neg(unix.EINVAL)
	}
	c := translator.Call{Nr: int(nr)}
	switch abiBits {
	case 32:
		c.ABI = x86_32.Arch()
	case 64:
		c.ABI = x86_64.Arch()
	default:
		return neg(unix.EINVAL)
	}
	copy(c.Args[:], unsafe.Slice((*uint64)(unsafe.Pointer(args)), 6))
	res, handled := s.Syscall(int32(tid), c, nil)
	if !handled {
		return 0
	}
	*ret = C.int64_t(res)
	return 1
}

//export fexrl_task_exec
func fexrl_task_exec(h C.uint64_t, tid C.int32_t) C.int {
	s, ok := lookup(h)
	if !ok {
		return neg(unix.EINVAL)
	}
	return C.int(len(s.TaskExec(int32(tid), nil)))
}

//export fexrl_task_exited
func fexrl_task_exited(h C.uint64_t, tid C.int32_t, cause C.int, death *C.struct_fexrl_death, out *C.struct_fexrl_exit_summary) C.int {
	s, ok := lookup(h)
	if !ok {
		return neg(unix.EINVAL)
	}
	d := shim.Death{Cause: shim.CauseUnknown}
	switch cause {
	case C.FEXRL_EXIT:
		d.Cause = shim.CauseExit
	case C.FEXRL_EXIT_GROUP:
		d.Cause = shim.CauseExitGroup
	case C.FEXRL_SIGNAL:
		d.Cause = shim.CauseSignal
	}
	if death != nil && (death.mode == 32 || death.mode == 64) {
		g := func(i int) uint64 { return uint64(death.regs[i]) }
		regs := &translator.Regs{RAX: g(0), RCX: g(1), RDX: g(2), RBX: g(3), RSP: g(4), RBP: g(5), RSI: g(6), RDI: g(7),
			R8: g(8), R9: g(9), R10: g(10), R11: g(11), R12: g(12), R13: g(13), R14: g(14), R15: g(15)}
		d.State = &translator.DeathState{Mode: int(death.mode), IP: uint64(death.ip), ThreadPointer: uint64(death.thread_pointer),
			Flags: uint64(death.flags), Reg: regs.Lookup}
	}
	walks := s.TaskExited(int32(tid), d, nil)
	if out != nil {
		*out = C.struct_fexrl_exit_summary{}
		for _, w := range walks {
			out.lists++
			if r := w.Report; r != nil {
				out.entries += C.uint32_t(r.Visited)
				out.marked += C.uint32_t(r.Marked)
				out.woken += C.uint32_t(r.Woken)
				if r.LimitHit() {
					out.limit_hits++
				}
				if r.Failed() {
					out.faults++
				}
			}
		}
	}
	return C.int(len(walks))
}

// fexrl_try_unlock_code fills *out with the try-unlock function for guest
// code of mode 32 or 64 clearing a pending slot of pop_bits (32 or 64).
//
//export fexrl_try_unlock_code
func fexrl_try_unlock_code(mode, popBits C.int, out *C.struct_fexrl_try_unlock) C.int {
	if out == nil {
		return neg(unix.EINVAL)
	}
	tu, err := translator.TryUnlockCode(int(mode), abi.Bits(popBits))
	if err != nil || len(tu.Code) > len(out.code) || len(tu.Symbol) >= len(out.symbol) {
		return neg(unix.EINVAL)
	}
	*out = C.struct_fexrl_try_unlock{size: C.uint32_t(len(tu.Code)), fixup_start: C.uint32_t(tu.FixupStart), fixup_end: C.uint32_t(tu.FixupEnd)}
	for i, b := range tu.Code {
		out.code[i] = C.uint8_t(b)
	}
	for i := 0; i < len(tu.Symbol); i++ {
		out.symbol[i] = C.char(tu.Symbol[i])
	}
	return 0
}

// fexrl_register_try_unlock tells fexrl the emulator placed the function
// of fexrl_try_unlock_code(mode, pop_bits) at guest address base in the
// vDSO of thread group tgid.
//
//export fexrl_register_try_unlock
func fexrl_register_try_unlock(h C.uint64_t, tgid C.int32_t, base C.uint64_t, mode, popBits C.int) C.int {
	s, ok := lookup(h)
	if !ok {
		return neg(unix.EINVAL)
	}
	tu, err := translator.TryUnlockCode(int(mode), abi.Bits(popBits))
	if err != nil {
		return neg(unix.EINVAL)
	}
	s.RegisterTryUnlock(int32(tgid), uint64(base), tu)
	return 0
}

//export fexrl_stats
func fexrl_stats(h C.uint64_t, out *C.struct_fexrl_stats) C.int {
	s, ok := lookup(h)
	if !ok || out == nil {
		return neg(unix.EINVAL)
	}
	st := s.Stats()
	*out = C.struct_fexrl_stats{
		tasks: C.int64_t(st.Tasks), lists_registered: C.int64_t(st.ListsRegistered), walks: C.int64_t(st.Walks),
		entries_walked: C.int64_t(st.EntriesWalked), owner_died_marked: C.int64_t(st.OwnerDiedMarked),
		woken: C.int64_t(st.Woken), limit_hits: C.int64_t(st.LimitHits),
	}
	return 0
}
