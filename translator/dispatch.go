package translator

import (
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

// Kind classifies a guest syscall by what fexrl does with it.
type Kind uint8

// The kinds of syscall fexrl cares about. Everything else is KindOther:
// not fexrl's business, left untouched.
const (
	KindOther Kind = iota
	KindSetRobustList
	KindGetRobustList
	KindSetRobustList2
	KindGetRobustList2
	KindFutex
	KindClone
	KindClone3
	KindFork
	KindVfork
	KindExecve
	KindExecveat
	KindExit
	KindExitGroup
)

// String returns the syscall name of the kind ("other" for KindOther).
func (k Kind) String() string {
	switch k {
	case KindSetRobustList:
		return "set_robust_list"
	case KindGetRobustList:
		return "get_robust_list"
	case KindSetRobustList2:
		return "set_robust_list2"
	case KindGetRobustList2:
		return "get_robust_list2"
	case KindFutex:
		return "futex"
	case KindClone:
		return "clone"
	case KindClone3:
		return "clone3"
	case KindFork:
		return "fork"
	case KindVfork:
		return "vfork"
	case KindExecve:
		return "execve"
	case KindExecveat:
		return "execveat"
	case KindExit:
		return "exit"
	case KindExitGroup:
		return "exit_group"
	}
	return "other"
}

// RobustList reports whether the kind is one of the four robust-list
// syscalls fexrl answers itself.
func (k Kind) RobustList() bool {
	return k >= KindSetRobustList && k <= KindGetRobustList2
}

// Lifecycle reports whether the kind creates, replaces or ends a task.
func (k Kind) Lifecycle() bool { return k >= KindClone }

// Classify returns the kind of syscall nr in the ABI a.
func Classify(a abi.Arch, nr int) Kind {
	if nr < 0 {
		return KindOther
	}
	s := a.Syscalls
	switch nr {
	case s.SetRobustList:
		return KindSetRobustList
	case s.GetRobustList:
		return KindGetRobustList
	case s.SetRobustList2:
		return KindSetRobustList2
	case s.GetRobustList2:
		return KindGetRobustList2
	case s.Futex:
		return KindFutex
	case s.Clone:
		return KindClone
	case s.Clone3:
		return KindClone3
	case s.Fork:
		return KindFork
	case s.Vfork:
		return KindVfork
	case s.Execve:
		return KindExecve
	case s.Execveat:
		return KindExecveat
	case s.Exit:
		return KindExit
	case s.ExitGroup:
		return KindExitGroup
	}
	return KindOther
}

// Call is one decoded guest syscall: the ABI it came through, its number
// and its six arguments (zero-extended register values).
type Call struct {
	ABI  abi.Arch
	Nr   int
	Args [6]uint64
}

// Kind classifies the call.
func (c Call) Kind() Kind { return Classify(c.ABI, c.Nr) }

// Dispatcher answers the robust-list syscalls of guest tasks from a
// robustlist2 registry.
type Dispatcher struct {
	// Registry holds the tasks' lists.
	Registry *robustlist2.Registry
	// NoRobustList2 answers set_robust_list2 and get_robust_list2 with
	// ENOSYS, as a host kernel without the proposal does.
	NoRobustList2 bool
}

// Result is a syscall's return value as the guest sees it: a value, or a
// negative errno.
type Result int64

// Errno returns the errno of a failed result, or 0.
func (r Result) Errno() unix.Errno {
	if r < 0 && r >= -4095 {
		return unix.Errno(-r)
	}
	return 0
}

func errResult(err error) Result {
	if e, ok := err.(unix.Errno); ok {
		return Result(-int64(e))
	}
	return Result(-int64(unix.EINVAL))
}

// Handle answers c for task t if it is a robust-list syscall, reading and
// writing guest memory through mem; handled is false for every other
// syscall, which the caller must perform as usual.
func (d *Dispatcher) Handle(t *robustlist2.Task, c Call, mem robustlist2.Memory) (res Result, handled bool) {
	bits := c.ABI.Bits
	a := c.Args
	switch c.Kind() {
	case KindSetRobustList:
		// set_robust_list(struct robust_list_head *head, size_t len)
		if err := d.Registry.SetRobustList(t, bits, a[0], a[1]); err != nil {
			return errResult(err), true
		}
		return 0, true
	case KindGetRobustList:
		// get_robust_list(int pid, struct robust_list_head **head_ptr,
		//                 size_t *len_ptr)
		if err := d.Registry.GetRobustList(t, bits, int32(a[0]), a[1], a[2], mem); err != nil {
			return errResult(err), true
		}
		return 0, true
	case KindSetRobustList2:
		if d.NoRobustList2 {
			return Result(-int64(unix.ENOSYS)), true
		}
		// set_robust_list2(void *head, unsigned int cmd, unsigned int
		//                  index, unsigned int flags)
		n, err := d.Registry.SetRobustList2(t, bits, a[0], uint32(a[1]), uint32(a[2]), uint32(a[3]))
		if err != nil {
			return errResult(err), true
		}
		return Result(n), true
	case KindGetRobustList2:
		if d.NoRobustList2 {
			return Result(-int64(unix.ENOSYS)), true
		}
		// get_robust_list2(int pid, void **head_ptr, unsigned int index,
		//                  unsigned int flags)
		if err := d.Registry.GetRobustList2(t, int32(a[0]), a[1], uint32(a[2]), uint32(a[3]), mem); err != nil {
			return errResult(err), true
		}
		return 0, true
	}
	return 0, false
}
