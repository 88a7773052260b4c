//go:build linux && amd64

package adapter

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/translator"
)

// syscallInfo is struct ptrace_syscall_info (PTRACE_GET_SYSCALL_INFO,
// Linux 5.3): the ABI (audit arch), number and arguments of the syscall a
// tracee is stopped in, without reading its registers.
type syscallInfo struct {
	Op       uint8
	_        uint8
	Flags    uint16
	Arch     uint32
	IP       uint64
	SP       uint64
	Nr       uint64
	Args     [6]uint64
	RetData  uint32
	_        uint32
	reserved [8]uint64 // room for later kernel additions
}

// The op values of struct ptrace_syscall_info.
const (
	syscallInfoNone    = 0
	syscallInfoEntry   = 1
	syscallInfoExit    = 2
	syscallInfoSeccomp = 3
)

func getSyscallInfo(tid int32, info *syscallInfo) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid),
		unsafe.Sizeof(*info), uintptr(unsafe.Pointer(info)), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_GET_SYSCALL_INFO %d: %w", tid, e)
	}
	return nil
}

// Offsets into struct user_regs_struct (x86-64) for PTRACE_POKEUSER.
const (
	userRAX     = 10 * 8
	userOrigRAX = 15 * 8
)

func pokeUser(tid int32, off uintptr, v uint64) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_POKEUSR, uintptr(tid), off, uintptr(v), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_POKEUSER %d: %w", tid, e)
	}
	return nil
}

// setReturn makes the syscall the tracee is stopped at (a seccomp stop)
// not run, and return ret instead.
func setReturn(tid int32, ret int64) error {
	if err := pokeUser(tid, userOrigRAX, ^uint64(0)); err != nil {
		return err
	}
	return pokeUser(tid, userRAX, uint64(ret))
}

func seize(pid int, options int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(options), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_SEIZE %d: %w", pid, e)
	}
	return nil
}

func ptraceListen(tid int32) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(tid), 0, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_LISTEN %d: %w", tid, e)
	}
	return nil
}

func cont(tid int32, sig int) error {
	if err := unix.PtraceCont(int(tid), sig); err != nil {
		return fmt.Errorf("PTRACE_CONT %d: %w", tid, err)
	}
	return nil
}

func getEventMsg(tid int32) (uint64, error) {
	m, err := unix.PtraceGetEventMsg(int(tid))
	if err != nil {
		return 0, fmt.Errorf("PTRACE_GETEVENTMSG %d: %w", tid, err)
	}
	return uint64(m), nil
}

// getRegs reads a tracee's registers in the x86-64 layout, also for a
// 32-bit tracee. (PTRACE_GETREGSET, which x/sys/unix uses, answers in the
// tracee's own layout: the i386 one for a 32-bit guest.)
func getRegs(tid int32, r *unix.PtraceRegs) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(r)), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_GETREGS %d: %w", tid, e)
	}
	return nil
}

// setRegs writes a tracee's registers in the x86-64 layout.
func setRegs(tid int32, r *unix.PtraceRegs) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(r)), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_SETREGS %d: %w", tid, e)
	}
	return nil
}

// userDesc is struct user_desc (PTRACE_GET_THREAD_AREA).
type userDesc struct {
	EntryNumber uint32
	BaseAddr    uint32
	Limit       uint32
	Flags       uint32
}

// segmentBase returns the base of the segment a 32-bit tracee's selector
// names: for %gs, i386 glibc's thread pointer.
func segmentBase(tid int32, selector uint16) (uint64, error) {
	var d userDesc
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_THREAD_AREA, uintptr(tid), uintptr(selector>>3), uintptr(unsafe.Pointer(&d)), 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("PTRACE_GET_THREAD_AREA %d: %w", tid, e)
	}
	return uint64(d.BaseAddr), nil
}

// gprOf returns a tracee's registers as the unlock-window check reads
// them (translator.Regs.Lookup): the general-purpose registers, rip and
// eflags as PTRACE_GETREGS gave them (for a 32-bit tracee, the i386
// registers in their low halves), and the fs and gs bases.
func gprOf(r *unix.PtraceRegs) *translator.Regs {
	return &translator.Regs{
		RAX: r.Rax, RCX: r.Rcx, RDX: r.Rdx, RBX: r.Rbx, RSP: r.Rsp, RBP: r.Rbp, RSI: r.Rsi, RDI: r.Rdi,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RIP: r.Rip, RFLAGS: r.Eflags, FSBase: r.Fs_base, GSBase: r.Gs_base,
	}
}
