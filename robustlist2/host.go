package robustlist2

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
)

// HostCaps is what the host kernel offers for robust lists.
type HostCaps struct {
	// RobustList2 is true when set_robust_list2 exists.
	RobustList2 bool `json:"set_robust_list2"`
	// RobustList2Limit is its LIST_LIMIT answer.
	RobustList2Limit int `json:"set_robust_list2_limit,omitempty"`
	// Legacy is true when set_robust_list exists (qemu-user on arm64 and
	// i386 answer ENOSYS).
	Legacy bool `json:"set_robust_list"`
	// Bits is the host's pointer width: the only list layout its legacy
	// set_robust_list can parse.
	Bits abi.Bits `json:"bits"`
	// LegacyInUse is true when the probing thread already had a list
	// registered with set_robust_list: the emulator's own libc uses the
	// slot, so fexrl must not take it.
	LegacyInUse bool `json:"legacy_in_use"`
	// RobustUnlock is true when futex takes FUTEX_ROBUST_UNLOCK (2026
	// kernels); without it fexrl performs robust unlocks for guests.
	RobustUnlock bool `json:"futex_robust_unlock"`
}

// SyscallFunc makes a raw host syscall; tests replace it.
type SyscallFunc func(nr, a1, a2, a3, a4, a5 uintptr) (uintptr, unix.Errno)

// RawSyscall is the real host syscall.
func RawSyscall(nr, a1, a2, a3, a4, a5 uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.Syscall6(nr, a1, a2, a3, a4, a5, 0)
	return r, e
}

// ProbeHost asks the host kernel, on the calling thread, which robust-list
// syscalls it has: set_robust_list2(NULL, LIST_LIMIT, 0, 0) failing with
// ENOSYS means no set_robust_list2; get_robust_list(0, ...) failing with
// ENOSYS means no set_robust_list either.
func ProbeHost(sys SyscallFunc) HostCaps {
	if sys == nil {
		sys = RawSyscall
	}
	caps := HostCaps{Bits: abi.Bits(unsafe.Sizeof(uintptr(0)) * 8)}
	r, e := sys(abi.SysSetRobustList2, 0, uintptr(abi.RobustListCmdListLimit), 0, 0, 0)
	if e != unix.ENOSYS {
		caps.RobustList2 = true
		if e == 0 {
			caps.RobustList2Limit = int(r)
		}
	}
	// Heap-allocated, so the kernel's write cannot race a stack move.
	out := new([2]uintptr)
	_, e = sys(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&out[1])), 0, 0)
	runtime.KeepAlive(out)
	if e != unix.ENOSYS {
		caps.Legacy = true
		caps.LegacyInUse = e == 0 && out[0] != 0
	}
	// A robust unlock of a private word of our own: 0 where the kernel
	// knows the flag, ENOSYS where it does not.
	ru := new(struct {
		word uint32
		_    uint32
		pop  uint64
	})
	ru.word, ru.pop = 1, 1
	_, e = sys(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&ru.word)), abi.FutexWake|abi.FutexPrivateFlag|abi.FutexRobustUnlock, 1,
		0, uintptr(unsafe.Pointer(&ru.pop)))
	runtime.KeepAlive(ru)
	caps.RobustUnlock = e == 0
	return caps
}

// HostPlacer registers guest lists with the host kernel when the host can
// walk them, and leaves the rest to fexrl's own walk:
//
//  1. with set_robust_list2 on the host, every list goes there, tagged with
//     its width (this is what the proposal is for);
//  2. else a list whose layout is the host's (a 64-bit guest list on a
//     64-bit host) may take the host's set_robust_list slot, one list per
//     task, and only if the emulator does not use that slot itself;
//  3. else fexrl walks the list when the task dies.
//
// The host registers lists per host thread, so Place must run on the guest
// task's own host thread (the emulator calls the syscall hook from the
// thread that runs the guest; from Go that goroutine must be locked to its
// thread, as cgo callbacks are). The host kernel reads the guest's list
// with host addresses, so HostPlacer is only correct when guest addresses
// are host addresses (Identity); otherwise every list gets fexrl's walk.
type HostPlacer struct {
	// Caps is what ProbeHost found.
	Caps HostCaps
	// Identity says guest addresses are host addresses.
	Identity bool
	// EmulatorUsesLegacy keeps the host's set_robust_list slot for the
	// emulator's own list (Caps.LegacyInUse is a good default).
	EmulatorUsesLegacy bool
	// Syscall makes the host calls; nil means RawSyscall.
	Syscall SyscallFunc
	// OnError, if set, hears about host registrations that failed (the
	// list then falls back to fexrl's walk).
	OnError func(t *Task, index int, op string, err error)
}

func (p *HostPlacer) sys(nr, a1, a2, a3, a4, a5 uintptr) (uintptr, unix.Errno) {
	if p.Syscall != nil {
		return p.Syscall(nr, a1, a2, a3, a4, a5)
	}
	return RawSyscall(nr, a1, a2, a3, a4, a5)
}

func (p *HostPlacer) fail(t *Task, index int, op string, err error) {
	if p.OnError != nil {
		p.OnError(t, index, op, err)
	}
}

// Place implements Placer.
func (p *HostPlacer) Place(t *Task, index int, old, new Slot) Slot {
	p.release(t, index, old)
	new.Backend, new.HostIndex = BackendWalk, 0
	if new.Head == 0 || !p.Identity {
		return new
	}
	if p.Caps.RobustList2 {
		cmd := abi.RobustListCmdCreate64
		if new.Bits == abi.Bits32 {
			cmd = abi.RobustListCmdCreate32
		}
		r, e := p.sys(abi.SysSetRobustList2, uintptr(new.Head), uintptr(cmd), 0, 0, 0)
		if e == 0 {
			new.Backend, new.HostIndex = BackendHostRobustList2, uint32(r)
			return new
		}
		p.fail(t, index, "set_robust_list2 "+cmd.String(), e)
	}
	if p.Caps.Legacy && !p.EmulatorUsesLegacy && new.Bits == p.Caps.Bits && !p.legacyTaken(t, index) {
		_, e := p.sys(unix.SYS_SET_ROBUST_LIST, uintptr(new.Head), uintptr(new.Bits.Head().Size), 0, 0, 0)
		if e == 0 {
			new.Backend = BackendHostLegacy
			return new
		}
		p.fail(t, index, "set_robust_list", e)
	}
	return new
}

// legacyTaken reports whether another slot of t holds the host's legacy
// slot. t.mu is held by the registry.
func (p *HostPlacer) legacyTaken(t *Task, index int) bool {
	for i, s := range t.slots {
		if i != index && s.Backend == BackendHostLegacy {
			return true
		}
	}
	return false
}

// release takes a list off the host kernel when it is replaced or cleared.
func (p *HostPlacer) release(t *Task, index int, old Slot) {
	switch old.Backend {
	case BackendHostRobustList2:
		cmd := abi.RobustListCmdModify64
		if old.Bits == abi.Bits32 {
			cmd = abi.RobustListCmdModify32
		}
		if _, e := p.sys(abi.SysSetRobustList2, 0, uintptr(cmd), uintptr(old.HostIndex), 0, 0); e != 0 {
			p.fail(t, index, "set_robust_list2 "+cmd.String()+" NULL", e)
		}
	case BackendHostLegacy:
		if _, e := p.sys(unix.SYS_SET_ROBUST_LIST, 0, uintptr(old.Bits.Head().Size), 0, 0, 0); e != 0 {
			p.fail(t, index, "set_robust_list NULL", e)
		}
	}
}
