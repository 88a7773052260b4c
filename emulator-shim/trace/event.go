package trace

import (
	"fmt"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// Format is the value of the header's "format" field.
const Format = "fexrl-trace"

// Version is the format version this package writes and reads.
const Version = 1

// The guest ABI names a trace uses (those of abi/archs).
const (
	ABIx86_32 = "x86_32"
	ABIx86_64 = "x86_64"
)

// Header is the first line of a trace.
type Header struct {
	// Version is the format version (Version).
	Version int
	// ABIs are the guest ABIs the trace contains: "x86_32", "x86_64".
	ABIs []string
	// Host is the machine the trace was made on.
	Host Host
	// Source says what made the trace: "record" (fexrl record), "strace"
	// or "qemu" (fexrl import), or another producer's name.
	Source string
	// Command is the guest's command line, when known.
	Command []string
	// Config is the robust-list configuration the trace was made with;
	// replay uses the same.
	Config Config
}

// Host describes the machine a trace was made on.
type Host struct {
	// OS and Arch are Go's names (linux, amd64).
	OS, Arch string
	// Kernel is the kernel release (uname -r), if known.
	Kernel string
}

// Config is the robust-list configuration of a trace.
type Config struct {
	// Mode is the adapter mode of a recording: "emulated" (fexrl
	// answered and walked) or "native" (the host kernel did); "" when
	// not recorded by the adapter.
	Mode string
	// RobustList2 says set_robust_list2/get_robust_list2 were answered
	// for the guest (otherwise ENOSYS, like a kernel without them).
	RobustList2 bool
	// Unbounded walks lists past the 2048-entry limit, stopping on
	// cycles.
	Unbounded bool
	// KernelUnlockRule keeps the kernel's pending-op rule for a task
	// that died inside a robust unlock (see shim.Config).
	KernelUnlockRule bool
	// ListLimit is the number of set_robust_list2 lists per task; 0
	// means the proposal's default.
	ListLimit int
}

// Kind is the kind of a trace event.
type Kind uint8

// The event kinds.
const (
	// KindTask: a guest task started (Parent 0) or was created by clone,
	// fork or vfork.
	KindTask Kind = iota + 1
	// KindSyscall: a guest syscall and its answer.
	KindSyscall
	// KindExit: a guest task ended; its lists were walked.
	KindExit
	// KindExec: a guest task called execve; its lists were walked and
	// cleared.
	KindExec
)

// String returns the "ev" name of the kind.
func (k Kind) String() string {
	switch k {
	case KindTask:
		return "task"
	case KindSyscall:
		return "syscall"
	case KindExit:
		return "exit"
	case KindExec:
		return "exec"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Event is one line of a trace after the header. Which fields mean
// something depends on Kind; see the package documentation.
type Event struct {
	Kind Kind
	// TID is the task the event is about.
	TID int32
	// TGID is its thread group (task, exit, exec).
	TGID int32
	// Parent is the creating task of a clone (task; 0 for the first task).
	Parent int32
	// Former is the TID an exec'ing thread had before it took over the
	// thread group leader's (exec; equal to TID when it was the leader).
	Former int32
	// ABI is the syscall's ABI (syscall), or the task's code size when
	// known (task, exec): ABIx86_32, ABIx86_64 or "".
	ABI string
	// Flags are a clone's flags (task).
	Flags uint64
	// Nr and Args are the syscall's number and its six arguments.
	Nr   int32
	Args [6]uint64
	// Ret is the syscall's return value as the guest saw it, if HasRet.
	Ret    int64
	HasRet bool
	// Handled says fexrl answered the syscall itself when it was
	// recorded (the emulator did not perform it).
	Handled bool
	// Code is the syscall site's instruction bytes, if recorded.
	Code []byte
	// SrcLine is the line of the imported log the event came from.
	SrcLine int64
	// UnknownArgs has bit i set when argument i was not in the imported
	// log (its value in Args is 0).
	UnknownArgs uint8
	// Cause says how the task ended (exit).
	Cause shim.Cause
	// Regs are the dying task's registers, if HasRegs (exit).
	Regs    Regs
	HasRegs bool
	// Memory is the guest memory the walks read, captured before fexrl
	// wrote anything (exit, exec), if HasMemory. Without it the lists
	// cannot be walked again.
	Memory    []MemWord
	HasMemory bool
	// Waiters are how many tasks were blocked on each futex word when
	// the walks woke them (exit, exec).
	Waiters []Waiter
	// Walks are the walks fexrl made when the event was recorded, if
	// HasWalks (exit, exec).
	Walks    []robustlist2.ListWalk
	HasWalks bool

	// words is Memory as a checked set, built by the reader.
	words *wordSet
}

// Regs are the registers of a task at its death that the unlock-window
// check needs.
type Regs struct {
	// Mode is 32 or 64, the code size the task ran.
	Mode int
	// IP, SP and TP are the instruction pointer, the stack pointer and
	// the thread pointer (the base of %fs on x86-64, of %gs on i386).
	IP, SP, TP uint64
}

// MemWord is a 4- or 8-byte little-endian word of guest memory.
type MemWord struct {
	Addr  uint64
	Size  int
	Value uint64
	// RO says the word could be read but not written when recorded.
	RO bool
}

// Waiter is the number of tasks blocked on a futex word, as the wakes of
// a recorded walk found them.
type Waiter struct {
	Addr uint64
	N    int
	// Fail is set when waking at Addr failed; it says why.
	Fail string
}

// Reset clears e for reuse, keeping its slices' storage.
func (e *Event) Reset() {
	mem, wt, walks, code := e.Memory[:0], e.Waiters[:0], e.Walks[:0], e.Code[:0]
	*e = Event{Memory: mem, Waiters: wt, Walks: walks, Code: code}
}
