// Package arm64 is the AArch64 architecture table: the syscall numbers of
// the generic table (include/uapi/asm-generic/unistd.h) that fexrl uses,
// the svc #0 register convention, and the 24-byte robust-list head.
// AArch64 has no fork or vfork syscalls and no compat entry for robust
// lists, which is why 32-bit guest lists need fexrl there.
package arm64

import "github.com/fexrl/fexrl/abi"

// Syscall numbers (include/uapi/asm-generic/unistd.h).
const (
	SysExit           = 93
	SysExitGroup      = 94
	SysFutex          = 98
	SysSetRobustList  = 99
	SysGetRobustList  = 100
	SysTgkill         = 131
	SysGettid         = 178
	SysClone          = 220
	SysExecve         = 221
	SysExecveat       = 281
	SysClone3         = 435
	SysWait4          = 260
	SysWaitid         = 95
	SysSetRobustList2 = abi.SysSetRobustList2
	SysGetRobustList2 = abi.SysGetRobustList2
)

// Arch returns the AArch64 table.
func Arch() abi.Arch {
	return abi.Arch{
		Name:       "arm64",
		GOARCH:     "arm64",
		Bits:       abi.Bits64,
		AuditArch:  abi.AuditArchAArch64,
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
			Fork:           abi.NoSyscall,
			Vfork:          abi.NoSyscall,
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
			Number: "x8",
			Args:   [6]string{"x0", "x1", "x2", "x3", "x4", "x5"},
			Return: "x0",
		},
	}
}
