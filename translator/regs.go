package translator

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/fexrl/fexrl/abi"
)

// Reg names an x86 general-purpose register by its encoding number.
type Reg uint8

// The sixteen general-purpose registers, in encoding order.
const (
	RegRAX Reg = iota
	RegRCX
	RegRDX
	RegRBX
	RegRSP
	RegRBP
	RegRSI
	RegRDI
	RegR8
	RegR9
	RegR10
	RegR11
	RegR12
	RegR13
	RegR14
	RegR15
)

// Name returns the register's name at a width of 32 bits ("ebx", "r8d")
// or 64 bits ("rbx", "r8").
func (g Reg) Name(bits abi.Bits) string {
	if g > RegR15 {
		return fmt.Sprintf("Reg(%d)", uint8(g))
	}
	if g >= RegR8 {
		n := fmt.Sprintf("r%d", int(g))
		if bits == abi.Bits32 {
			n += "d"
		}
		return n
	}
	n := [...]string{"ax", "cx", "dx", "bx", "sp", "bp", "si", "di"}[g]
	if bits == abi.Bits32 {
		return "e" + n
	}
	return "r" + n
}

// String returns the 64-bit name of the register.
func (g Reg) String() string { return g.Name(abi.Bits64) }

// Regs is an x86 guest's register file as an emulator holds it at the
// syscall instruction, before the instruction executes. For 32- and
// 16-bit guests the registers are the zero-extended 32-bit ones (eax in
// RAX, and so on) and RIP is the offset of the instruction in the code
// segment (the address, in Linux's flat segments).
//
// A ptrace user sees registers after the kernel's entry code instead: the
// number in orig_rax (rax already holds -ENOSYS), rip past the
// instruction (at the vDSO landing pad after sysenter), and for sysenter
// and the 32-bit syscall the arguments already moved into the int $0x80
// layout (ecx holding arg2, ebp arg6). To use a Site it puts orig_rax in
// RAX and, for an i386 syscall, reads the arguments as for SiteInt80.
type Regs struct {
	RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	// RIP is the address of the syscall instruction.
	RIP uint64
	// RFLAGS is the flags register.
	RFLAGS uint64
	// FSBase and GSBase are the bases of the fs and gs segments (for an
	// i386 guest, gs points at glibc's thread control block).
	FSBase, GSBase uint64
}

// Get returns the value of register g, or 0 if g is not a register.
func (r *Regs) Get(g Reg) uint64 {
	switch g {
	case RegRAX:
		return r.RAX
	case RegRCX:
		return r.RCX
	case RegRDX:
		return r.RDX
	case RegRBX:
		return r.RBX
	case RegRSP:
		return r.RSP
	case RegRBP:
		return r.RBP
	case RegRSI:
		return r.RSI
	case RegRDI:
		return r.RDI
	case RegR8:
		return r.R8
	case RegR9:
		return r.R9
	case RegR10:
		return r.R10
	case RegR11:
		return r.R11
	case RegR12:
		return r.R12
	case RegR13:
		return r.R13
	case RegR14:
		return r.R14
	case RegR15:
		return r.R15
	}
	return 0
}

// ArgLoc is where the kernel takes one syscall argument from.
type ArgLoc struct {
	// Reg holds the argument, or its address when Mem is set.
	Reg Reg
	// Bits is the width of the argument: 64 (the whole register) or 32
	// (the low half, zero-extended).
	Bits abi.Bits
	// Mem says the argument is the 32-bit word in guest memory at the
	// address held in the low 32 bits of Reg.
	Mem bool
}

// String returns the register name ("rdi", "ebx") or, for a memory
// argument, the address operand ("[esp]").
func (l ArgLoc) String() string {
	if l.Mem {
		return "[" + l.Reg.Name(abi.Bits32) + "]"
	}
	return l.Reg.Name(l.Bits)
}

// Loader reads 32-bit little-endian words of guest memory; a fault is an
// error. robustlist2.Memory is one.
type Loader interface {
	Load32(addr uint64) (uint32, error)
}

// ArgFault is the error of ReadArgs when a stack-resident argument cannot
// be loaded. The kernel fails such a syscall with EFAULT without running
// it (do_fast_syscall_32); Errno says so.
type ArgFault struct {
	// Arg is the argument's number, 1 to 6.
	Arg int
	// Loc is where the argument lives.
	Loc ArgLoc
	// Addr is the guest address that could not be read.
	Addr uint64
	// Err is the Loader's error.
	Err error
}

// Error names the argument, its location, the address and the cause.
func (e *ArgFault) Error() string {
	return fmt.Sprintf("translator: arg%d at %s = %#x: %v", e.Arg, e.Loc, e.Addr, e.Err)
}

// Unwrap returns the Loader's error.
func (e *ArgFault) Unwrap() error { return e.Err }

// Errno returns EFAULT, what the kernel answers the guest.
func (e *ArgFault) Errno() syscall.Errno { return syscall.EFAULT }

// Number returns the syscall number the kernel reads at site s: the low
// 32 bits of rax, sign-extended, as both the x86-64 entry (which treats
// the number as an int) and the i386 entries do, so a 32-bit -1 is -1. An
// x32 number (bit 30 set) comes back as it is. For a Site that DecodeSite
// did not return, Number is -1.
func (s Site) Number(r *Regs) int {
	if !s.Kind.Valid() {
		return -1
	}
	return int(int32(uint32(r.RAX)))
}

// ReadArgs returns the six syscall arguments at site s, each zero-extended
// from its width: the whole register for the x86-64 ABI, the low 32 bits
// for the i386 ABI. The stack-resident argument of SiteSysenter and
// SiteSyscall32 is loaded through m; a failed load is an *ArgFault, and a
// nil m is one too. m is not used for the other kinds and may be nil. On
// error the arguments are all zero.
func (s Site) ReadArgs(r *Regs, m Loader) ([6]uint64, error) {
	if !s.Kind.Valid() {
		return [6]uint64{}, fmt.Errorf("translator: reading arguments at an invalid site (kind %v)", s.Kind)
	}
	var args [6]uint64
	for i, l := range s.Args {
		v := r.Get(l.Reg)
		if l.Bits == abi.Bits32 || l.Mem {
			v = uint64(uint32(v))
		}
		if l.Mem {
			if m == nil {
				return [6]uint64{}, &ArgFault{Arg: i + 1, Loc: l, Addr: v, Err: errors.New("no guest memory to load from")}
			}
			w, err := m.Load32(v)
			if err != nil {
				return [6]uint64{}, &ArgFault{Arg: i + 1, Loc: l, Addr: v, Err: err}
			}
			v = uint64(w)
		}
		args[i] = v
	}
	return args, nil
}

// SetReturn stores a syscall's result, the kernel's long return value, in
// the return register: rax gets ret as a 64-bit two's complement value,
// for the i386 ABI too. The x86-64 kernel's compat paths store the long
// result of the ia32 handler in pt_regs->ax whole, so after int $0x80 from
// 64-bit code the upper half of rax is the sign extension of the result:
// all ones for -errno, zero for a non-negative result (which a compat
// handler keeps below 2^32: a 32-bit address such as 0xf7000000 is
// returned as that positive value, not sign-extended from bit 31). 32-bit
// code sees eax only. No other register is written; after a sysenter or a
// 32-bit syscall the kernel leaves ecx and ebp changed, but the vDSO's
// landing pad pops ebp, edx and ecx right away.
func (s Site) SetReturn(r *Regs, ret int64) {
	r.RAX = uint64(ret)
}

// SetErrno makes the syscall at s fail with e, as SetReturn of
// ErrnoReturn(e).
func (s Site) SetErrno(r *Regs, e syscall.Errno) {
	s.SetReturn(r, ErrnoReturn(e))
}

// MaxErrno is the largest errno a syscall can return (the kernel's
// MAX_ERRNO): return values from -MaxErrno to -1 are errors.
const MaxErrno = 4095

// ErrnoReturn returns the syscall return value for a failure with e: -e.
// The number needs no translation between ABIs: x86_32, x86_64 and arm64
// all use the asm-generic errno numbers, so an errno from an arm64 host
// kernel is the x86 guest's errno. An e of 0 or above MaxErrno is no error
// a guest could see; it becomes EINVAL so that the guest still sees the
// call fail.
func ErrnoReturn(e syscall.Errno) int64 {
	if e == 0 || e > MaxErrno {
		e = syscall.EINVAL
	}
	return -int64(e)
}

// NextIP returns the instruction pointer at which the guest continues
// after the syscall at s: RIP plus s.Resume (the instruction's length, or
// past the int $0x80 landing pad for the vDSO's sysenter and 32-bit
// syscall), wrapped to the width of the code (32 bits in 32-bit code, 16
// in 16-bit code). For the vDSO call that is the call's return address:
// an emulator that answers the call itself stands in for both the call
// and __kernel_vsyscall, so nothing is pushed and the guest goes on after
// the call with only eax changed.
func (s Site) NextIP(r *Regs) uint64 {
	ip := r.RIP + uint64(s.Resume)
	switch s.Mode {
	case 32:
		ip = uint64(uint32(ip))
	case 16:
		ip = uint64(uint16(ip))
	}
	return ip
}
