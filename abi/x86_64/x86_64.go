// Package x86_64 is the x86-64 architecture table: the syscall numbers of
// arch/x86/entry/syscalls/syscall_64.tbl that fexrl uses, the syscall
// instruction's register convention, and the 24-byte robust-list head.
package x86_64

import "github.com/fexrl/fexrl/abi"

// Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	SysClone          = 56
	SysFork           = 57
	SysVfork          = 58
	SysExecve         = 59
	SysExit           = 60
	SysGettid         = 186
	SysFutex          = 202
	SysExitGroup      = 231
	SysTgkill         = 234
	SysSetRobustList  = 273
	SysGetRobustList  = 274
	SysExecveat       = 322
	SysClone3         = 435
	SysWait4          = 61
	SysWaitid         = 247
	SysSetRobustList2 = abi.SysSetRobustList2
	SysGetRobustList2 = abi.SysGetRobustList2
)

// Arch returns the x86-64 table.
func Arch() abi.Arch {
	return abi.Arch{
		Name:       "x86_64",
		GOARCH:     "amd64",
		Bits:       abi.Bits64,
		AuditArch:  abi.AuditArchX86_64,
		RobustHead: abi.Bits64.Head(),
		Syscalls: abi.Syscalls{
			SetRobustList:  SysSetRobustList,
			GetRobustList:  SysGetRobustList,
			Futex:          SysFutex,
			Exit:           SysExit,
			ExitGroup:      SysExitGroup,
			Execve:         SysExecve,
			Execveat:       SysExecveat,
			Clone:          SysClone,
			Clone3:         SysClone3,
			Fork:           SysFork,
			Vfork:          SysVfork,
			Gettid:         SysGettid,
			Tgkill:         SysTgkill,
			FutexTime64:    abi.NoSyscall,
			Waitpid:        abi.NoSyscall,
			Wait4:          SysWait4,
			Waitid:         SysWaitid,
			SetRobustList2: SysSetRobustList2,
			GetRobustList2: SysGetRobustList2,
		},
		Regs: abi.CallingConvention{
			Number: "rax",
			Args:   [6]string{"rdi", "rsi", "rdx", "r10", "r8", "r9"},
			Return: "rax",
		},
	}
}
