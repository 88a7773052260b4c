package robustlist2

import (
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
)

// The errors of the robust-list syscalls. They are the kernel's errno
// values, the same on x86_32, x86_64 and arm64.
const (
	errInval     = unix.EINVAL
	errSrch      = unix.ESRCH
	errPerm      = unix.EPERM
	errFault     = unix.EFAULT
	errNoSpc     = unix.ENOSPC
	errNoEnt     = unix.ENOENT
	errOpNotSupp = unix.EOPNOTSUPP
)

// SetRobustList is set_robust_list(head, len) made by task t through an
// ABI with pointers of width bits. len must be that ABI's head size (12 or
// 24), else EINVAL. The head is only recorded (any value, NULL clears the
// list); memory is not read until the walk. A 32-bit call sets the compat
// slot and a 64-bit call the native slot, as an x86-64 kernel keeps
// compat_robust_list and robust_list apart.
func (r *Registry) SetRobustList(t *Task, bits abi.Bits, head, length uint64) error {
	if !bits.Valid() || length != bits.Head().Size {
		return errInval
	}
	index := SlotNative
	if bits == abi.Bits32 {
		index = SlotCompat
		head = uint64(uint32(head))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r.set(t, index, Slot{Head: head, Bits: bits})
	return nil
}

// target resolves the pid argument of get_robust_list(2): 0 is the
// caller, an unknown TID is ESRCH, one the caller may not read is EPERM.
func (r *Registry) target(caller *Task, pid int32) (*Task, error) {
	if pid == 0 {
		return caller, nil
	}
	t, ok := r.Lookup(pid)
	if !ok {
		return nil, errSrch
	}
	if r.cfg.MayRead != nil && !r.cfg.MayRead(caller, t) {
		return nil, errPerm
	}
	return t, nil
}

// GetRobustList is get_robust_list(pid, head_ptr, len_ptr) made by task
// caller through an ABI of width bits: it stores the head size at len_ptr
// and then the head at head_ptr, both in the caller's pointer size and in
// that order (a bad len_ptr writes nothing; a bad head_ptr leaves len
// written), through mem. A 32-bit call reads the compat slot, a 64-bit
// call the native slot.
func (r *Registry) GetRobustList(caller *Task, bits abi.Bits, pid int32, headPtr, lenPtr uint64, mem Memory) error {
	if !bits.Valid() {
		return errInval
	}
	t, err := r.target(caller, pid)
	if err != nil {
		return err
	}
	index := SlotNative
	if bits == abi.Bits32 {
		index = SlotCompat
	}
	t.mu.Lock()
	head := t.slots[index].Head
	t.mu.Unlock()
	if storePtr(mem, bits, lenPtr, bits.Head().Size) != nil {
		return errFault
	}
	if storePtr(mem, bits, headPtr, head) != nil {
		return errFault
	}
	return nil
}

func storePtr(mem Memory, bits abi.Bits, addr, v uint64) error {
	if bits == abi.Bits32 {
		return mem.Store32(addr, uint32(v))
	}
	return mem.Store64(addr, v)
}

// SetRobustList2 is set_robust_list2(head, cmd, index, flags) made by
// task t through an ABI of width bits. It returns the syscall's result (a
// list index, or the list limit) or its errno:
//
//   - flags other than 0, a cmd of USER_MAX or above (the kernel-internal
//     SET_NATIVE and SET_COMPAT included): EINVAL;
//   - LIST_LIMIT: the number of lists a task may create;
//   - CREATE_32/64: a new list in the lowest free index; ENOSPC when all
//     are taken; a NULL head is EINVAL (there is nothing to create);
//   - MODIFY_32/64: re-set list index; NULL clears it and frees the index;
//     an index out of range is EINVAL, one not in use ENOENT, one holding
//     a list of the other width EINVAL;
//   - a 64-bit command from a 32-bit ABI: EOPNOTSUPP;
//   - a head not aligned to its pointer size, or a 32-bit list whose head
//     does not lie below 4 GiB: EINVAL.
func (r *Registry) SetRobustList2(t *Task, bits abi.Bits, head uint64, cmd, index, flags uint32) (int64, error) {
	if !bits.Valid() || flags != 0 || abi.RobustListCmd(cmd) >= abi.RobustListCmdUserMax {
		return 0, errInval
	}
	c := abi.RobustListCmd(cmd)
	if c == abi.RobustListCmdListLimit {
		return int64(r.cfg.ListLimit), nil
	}
	listBits := abi.Bits32
	if c == abi.RobustListCmdCreate64 || c == abi.RobustListCmdModify64 {
		listBits = abi.Bits64
		if bits == abi.Bits32 {
			return 0, errOpNotSupp
		}
	}
	if head%uint64(listBits.PtrSize()) != 0 {
		return 0, errInval
	}
	if listBits == abi.Bits32 && head+listBits.Head().Size > abi.RobustList2Max32BitAddr {
		return 0, errInval
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch c {
	case abi.RobustListCmdCreate32, abi.RobustListCmdCreate64:
		if head == 0 {
			return 0, errInval
		}
		for i := 0; i < r.cfg.ListLimit; i++ {
			if !t.slots[SlotRobust2+i].InUse() {
				r.set(t, SlotRobust2+i, Slot{Head: head, Bits: listBits})
				return int64(i), nil
			}
		}
		return 0, errNoSpc
	default: // MODIFY_32, MODIFY_64
		if int64(index) >= int64(r.cfg.ListLimit) {
			return 0, errInval
		}
		s := t.slots[SlotRobust2+int(index)]
		if !s.InUse() {
			return 0, errNoEnt
		}
		if s.Bits != listBits {
			return 0, errInval
		}
		if head == 0 {
			r.set(t, SlotRobust2+int(index), Slot{})
		} else {
			r.set(t, SlotRobust2+int(index), Slot{Head: head, Bits: listBits})
		}
		return int64(index), nil
	}
}

// GetRobustList2 is get_robust_list2(pid, head_ptr, index, flags) made by
// task caller: it stores list index's head at head_ptr in the list's own
// width (4 bytes for a 32-bit list, 8 for a 64-bit one). flags other than
// 0 and an index out of range are EINVAL, an index not in use ENOENT, a
// bad head_ptr EFAULT, and pid as for get_robust_list.
func (r *Registry) GetRobustList2(caller *Task, pid int32, headPtr uint64, index, flags uint32, mem Memory) error {
	if flags != 0 || int64(index) >= int64(r.cfg.ListLimit) {
		return errInval
	}
	t, err := r.target(caller, pid)
	if err != nil {
		return err
	}
	t.mu.Lock()
	s := t.slots[SlotRobust2+int(index)]
	t.mu.Unlock()
	if !s.InUse() {
		return errNoEnt
	}
	if storePtr(mem, s.Bits, headPtr, s.Head) != nil {
		return errFault
	}
	return nil
}
