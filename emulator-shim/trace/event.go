package trace

import (
	"fmt"
	"math"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/translator"
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
	// GPR are all the general-purpose registers, if HasGPR: the values
	// the unlock-window check used when the trace was recorded (the
	// code may reach the pending field through any of them). Without
	// them, replay knows only SP. When present, SP is GPR.RSP and IP is
	// GPR.RIP (its low 32 bits in mode 32).
	GPR    GPR
	HasGPR bool
}

// GPR are a task's general-purpose registers, its instruction pointer
// and its flags at its death, as ptrace reads them in the x86-64 layout:
// for a 32-bit task the low halves are the i386 registers (eax in RAX
// and so on).
type GPR struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	// RIP is the instruction pointer.
	RIP uint64
	// EFLAGS is the flags register (its upper 32 bits are reserved, 0).
	EFLAGS uint64
}

// numGPR is the number of registers in a GPR.
const numGPR = 18

// gprNames are the JSON names of a GPR's registers, in the order the
// Writer writes them.
var gprNames = [numGPR]string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags"}

// fields returns pointers to g's registers in the order of gprNames.
func (g *GPR) fields() [numGPR]*uint64 {
	return [numGPR]*uint64{&g.RAX, &g.RBX, &g.RCX, &g.RDX, &g.RSI, &g.RDI, &g.RBP, &g.RSP,
		&g.R8, &g.R9, &g.R10, &g.R11, &g.R12, &g.R13, &g.R14, &g.R15, &g.RIP, &g.EFLAGS}
}

// NewGPR takes the general-purpose registers, RIP and RFLAGS of r (not
// its segment bases).
func NewGPR(r *translator.Regs) GPR {
	return GPR{RAX: r.RAX, RBX: r.RBX, RCX: r.RCX, RDX: r.RDX, RSI: r.RSI, RDI: r.RDI, RBP: r.RBP, RSP: r.RSP,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
		RIP: r.RIP, EFLAGS: r.RFLAGS}
}

// Regs returns g as a translator register file (without segment bases),
// whose Lookup is what the unlock-window check reads registers with.
func (g *GPR) Regs() translator.Regs {
	return translator.Regs{RAX: g.RAX, RBX: g.RBX, RCX: g.RCX, RDX: g.RDX, RSI: g.RSI, RDI: g.RDI, RBP: g.RBP, RSP: g.RSP,
		R8: g.R8, R9: g.R9, R10: g.R10, R11: g.R11, R12: g.R12, R13: g.R13, R14: g.R14, R15: g.R15,
		RIP: g.RIP, RFLAGS: g.EFLAGS}
}

// check reports what makes r's registers contradict each other: with
// GPR, IP must be RIP (its low 32 bits in mode 32), SP must be RSP, and
// EFLAGS must fit in 32 bits.
func (r *Regs) check() error {
	if !r.HasGPR {
		return nil
	}
	g := &r.GPR
	rip := g.RIP
	if r.Mode == 32 {
		rip = uint64(uint32(rip))
	}
	switch {
	case r.IP != rip:
		return fmt.Errorf(`"ip" %#x is not the "rip" of "gpr" (%#x)`, r.IP, g.RIP)
	case r.SP != g.RSP:
		return fmt.Errorf(`"sp" %#x (0 when absent) is not the "rsp" of "gpr" (%#x)`, r.SP, g.RSP)
	case g.EFLAGS > math.MaxUint32:
		return fmt.Errorf(`"eflags" %#x does not fit in 32 bits`, g.EFLAGS)
	}
	return nil
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
