// Package abi holds the one type that describes a guest or host
// architecture to fexrl, and the constants of the futex and robust-list
// user ABI that every architecture shares.
//
// The per-architecture tables live in the sub-packages x86_32, x86_64 and
// arm64; each returns its [Arch] by value, so no caller can change what
// another sees. This package imports nothing of the project.
package abi

import "fmt"

// Bits is the pointer width of a robust list or of an ABI: 32 or 64.
type Bits uint8

// The two pointer widths a robust list can have.
const (
	Bits32 Bits = 32
	Bits64 Bits = 64
)

// PtrSize is the size of a pointer of this width, in bytes.
func (b Bits) PtrSize() int { return int(b) / 8 }

// Valid reports whether b is 32 or 64.
func (b Bits) Valid() bool { return b == Bits32 || b == Bits64 }

// Head returns the robust_list_head layout for lists of this width.
func (b Bits) Head() HeadLayout {
	p := uint64(b) / 8
	return HeadLayout{Size: 3 * p, Next: 0, FutexOffset: p, ListOpPending: 2 * p}
}

// String returns "32-bit" or "64-bit".
func (b Bits) String() string {
	if !b.Valid() {
		return fmt.Sprintf("Bits(%d)", uint8(b))
	}
	return fmt.Sprintf("%d-bit", uint8(b))
}

// NoSyscall marks a syscall an architecture does not have (fork and vfork
// on arm64, for instance).
const NoSyscall = -1

// Arch describes one architecture: how its syscalls are numbered and
// passed, and how its robust-list head is laid out.
type Arch struct {
	// Name is fexrl's name for the architecture: x86_32, x86_64 or arm64.
	Name string
	// GOARCH is the Go name of the same architecture.
	GOARCH string
	// Bits is the pointer width of the ABI.
	Bits Bits
	// AuditArch is the AUDIT_ARCH_* value a seccomp filter sees in
	// seccomp_data.arch for syscalls made through this ABI.
	AuditArch uint32
	// RobustHead is the layout of struct robust_list_head.
	RobustHead HeadLayout
	// Syscalls are the numbers fexrl cares about.
	Syscalls Syscalls
	// Regs names the registers of the syscall calling convention.
	Regs CallingConvention
}

// PtrSize is the size of a pointer in bytes.
func (a Arch) PtrSize() int { return a.Bits.PtrSize() }

// HeadLayout is the layout of struct robust_list_head:
//
//	struct robust_list      { struct robust_list *next; };
//	struct robust_list_head { struct robust_list list; long futex_offset;
//	                          struct robust_list *list_op_pending; };
//
// Offsets are in bytes from the start of the head.
type HeadLayout struct {
	Size          uint64
	Next          uint64
	FutexOffset   uint64
	ListOpPending uint64
}

// Syscalls holds the syscall numbers fexrl reads, traps or answers. A
// syscall the architecture lacks is [NoSyscall].
type Syscalls struct {
	SetRobustList int
	GetRobustList int
	Futex         int
	Exit          int
	ExitGroup     int
	Execve        int
	Execveat      int
	Clone         int
	Clone3        int
	Fork          int
	Vfork         int
	Gettid        int
	Tgkill        int
	// FutexTime64 is the 32-bit ABIs' futex with 64-bit times (what
	// 32-bit glibc waits through); where futex already has them, there is
	// none.
	FutexTime64 int
	// Waitpid, Wait4 and Waitid reap children: fexrl makes a child it
	// traced reapable before a WNOHANG wait looks for it.
	Waitpid        int
	Wait4          int
	Waitid         int
	SetRobustList2 int
	GetRobustList2 int
}

// Named lists the numbers with their kernel names, in a fixed order, for
// printing and for tests that walk every number.
func (s Syscalls) Named() []NamedSyscall {
	return []NamedSyscall{
		{"set_robust_list", s.SetRobustList},
		{"get_robust_list", s.GetRobustList},
		{"futex", s.Futex},
		{"exit", s.Exit},
		{"exit_group", s.ExitGroup},
		{"execve", s.Execve},
		{"execveat", s.Execveat},
		{"clone", s.Clone},
		{"clone3", s.Clone3},
		{"fork", s.Fork},
		{"vfork", s.Vfork},
		{"gettid", s.Gettid},
		{"tgkill", s.Tgkill},
		{"futex_time64", s.FutexTime64},
		{"waitpid", s.Waitpid},
		{"wait4", s.Wait4},
		{"waitid", s.Waitid},
		{"set_robust_list2", s.SetRobustList2},
		{"get_robust_list2", s.GetRobustList2},
	}
}

// Name returns the kernel name of syscall nr if it is one of s, or "".
func (s Syscalls) Name(nr int) string {
	if nr == NoSyscall {
		return ""
	}
	for _, n := range s.Named() {
		if n.Nr == nr {
			return n.Name
		}
	}
	return ""
}

// NamedSyscall is a syscall number with its kernel name.
type NamedSyscall struct {
	Name string
	Nr   int
}

// CallingConvention names the registers that carry a syscall's number, its
// six arguments and its return value, as the architecture's manuals and
// the kernel's entry code spell them.
type CallingConvention struct {
	Number string
	Args   [6]string
	Return string
}

// Audit architecture values (include/uapi/linux/audit.h).
const (
	AuditArchI386    uint32 = 0x40000003
	AuditArchX86_64  uint32 = 0xc000003e
	AuditArchAArch64 uint32 = 0xc00000b7
)

// Futex word bits and the robust-list walk limit
// (include/uapi/linux/futex.h).
const (
	FutexWaiters    uint32 = 0x80000000
	FutexOwnerDied  uint32 = 0x40000000
	FutexTIDMask    uint32 = 0x3fffffff
	RobustListLimit        = 2048
)

// Futex operations and op flags (include/uapi/linux/futex.h), including
// the robust unlock flags of 2026 kernels.
const (
	FutexWait          = 0
	FutexWake          = 1
	FutexLockPI        = 6
	FutexUnlockPI      = 7
	FutexTrylockPI     = 8
	FutexWaitBitset    = 9
	FutexWakeBitset    = 10
	FutexLockPI2       = 13
	FutexPrivateFlag   = 128
	FutexClockRealtime = 256
	// FutexRobustUnlock asks the kernel to release the word, clear
	// list_op_pending and wake, in one call.
	FutexRobustUnlock = 512
	// FutexRobustList32 says list_op_pending is a 32-bit pointer.
	FutexRobustList32 = 1024
	// FutexCmdMask keeps the command of an op word.
	FutexCmdMask = ^(FutexPrivateFlag | FutexClockRealtime | FutexRobustUnlock | FutexRobustList32)
	// FutexBitsetMatchAny is the bitset that matches every waiter.
	FutexBitsetMatchAny uint32 = 0xffffffff
	// FutexRobustModPI is the PI modifier bit of a list_op_pending value.
	FutexRobustModPI = 1
)
