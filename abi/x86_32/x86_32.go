// Package x86_32 is the i386 architecture table: the syscall numbers of
// arch/x86/entry/syscalls/syscall_32.tbl that fexrl uses, the int $0x80
// register convention, and the 12-byte robust-list head.
package x86_32

import "github.com/fexrl/fexrl/abi"

// Syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl).
const (
	SysExit           = 1
	SysFork           = 2
	SysExecve         = 11
	SysClone          = 120
	SysVfork          = 190
	SysGettid         = 224
	SysFutex          = 240
	SysExitGroup      = 252
	SysTgkill         = 270
	SysSetRobustList  = 311
	SysGetRobustList  = 312
	SysExecveat       = 358
	SysClone3         = 435
	SysFutexTime64    = 422
	SysWaitpid        = 7
	SysWait4          = 114
	SysWaitid         = 284
	SysSetRobustList2 = abi.SysSetRobustList2
	SysGetRobustList2 = abi.SysGetRobustList2
)

// Arch returns the i386 table.
func Arch() abi.Arch {
	return abi.Arch{
		Name:       "x86_32",
		GOARCH:     "386",
		Bits:       abi.Bits32,
		AuditArch:  abi.AuditArchI386,
		RobustHead: abi.Bits32.Head(),
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
			FutexTime64:    SysFutexTime64,
			Waitpid:        SysWaitpid,
			Wait4:          SysWait4,
			Waitid:         SysWaitid,
			SetRobustList2: SysSetRobustList2,
			GetRobustList2: SysGetRobustList2,
		},
		Regs: abi.CallingConvention{
			Number: "eax",
			Args:   [6]string{"ebx", "ecx", "edx", "esi", "edi", "ebp"},
			Return: "eax",
		},
	}
}
