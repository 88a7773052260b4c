package abi

// The set_robust_list2/get_robust_list2 proposal, latest revision (v6,
// "futex: Create {set,get}_robust_list2() syscalls", November 2025, and its
// selftest). Everything fexrl knows about the proposal's numbers lives
// here, so a new revision is a one-line change. New syscalls share one
// number on every architecture, so the same values serve x86_32, x86_64
// and arm64.
const (
	// SysSetRobustList2 is the proposed number of
	//	long set_robust_list2(void *head, unsigned int cmd,
	//	                      unsigned int index, unsigned int flags);
	SysSetRobustList2 = 473
	// SysGetRobustList2 is the proposed number of
	//	long get_robust_list2(int pid, void **head_ptr,
	//	                      unsigned int index, unsigned int flags);
	SysGetRobustList2 = 474
)

// RobustListCmd is the cmd argument of set_robust_list2.
type RobustListCmd uint32

// The commands of enum robust_list_cmd.
const (
	// RobustListCmdCreate64 registers a new 64-bit list and returns its index.
	RobustListCmdCreate64 RobustListCmd = 0
	// RobustListCmdCreate32 registers a new 32-bit list and returns its index.
	RobustListCmdCreate32 RobustListCmd = 1
	// RobustListCmdModify64 sets list `index` to a 64-bit head; NULL clears it.
	RobustListCmdModify64 RobustListCmd = 2
	// RobustListCmdModify32 sets list `index` to a 32-bit head; NULL clears it.
	RobustListCmdModify32 RobustListCmd = 3
	// RobustListCmdListLimit returns how many lists a task may have.
	RobustListCmdListLimit RobustListCmd = 4
	// RobustListCmdUserMax is the first command user space may not pass.
	RobustListCmdUserMax RobustListCmd = 5
	// RobustListSetNative is the kernel-internal command behind the legacy
	// set_robust_list of a native task; rejected from user space.
	RobustListSetNative RobustListCmd = 128
	// RobustListSetCompat is the kernel-internal command behind the legacy
	// set_robust_list of a compat task; rejected from user space.
	RobustListSetCompat RobustListCmd = 129
)

// RobustList2DefaultListLimit is the number of set_robust_list2 lists a
// task may hold unless configured otherwise: FUTEX_ROBUST_LISTS_PER_USER of
// the v6 series. The two legacy lists (native and compat) have their own
// reserved slots and do not count against it.
const RobustList2DefaultListLimit = 8

// RobustList2Max32BitAddr is the first address a 32-bit list registered by
// a 64-bit task may not use: its pointers are 32 bits wide.
const RobustList2Max32BitAddr uint64 = 1 << 32

// String returns the command's enum name.
func (c RobustListCmd) String() string {
	switch c {
	case RobustListCmdCreate64:
		return "CREATE_64"
	case RobustListCmdCreate32:
		return "CREATE_32"
	case RobustListCmdModify64:
		return "MODIFY_64"
	case RobustListCmdModify32:
		return "MODIFY_32"
	case RobustListCmdListLimit:
		return "LIST_LIMIT"
	case RobustListSetNative:
		return "SET_NATIVE"
	case RobustListSetCompat:
		return "SET_COMPAT"
	}
	return "UNKNOWN"
}
