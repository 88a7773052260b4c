package robustlist2

import (
	"fmt"
)

// Backend says who walks a list when its task dies.
type Backend uint8

// The back ends.
const (
	// BackendWalk: fexrl walks the list itself when the task exits, execs
	// or dies (the only choice on a host without kernel help).
	BackendWalk Backend = iota
	// BackendHostRobustList2: the list is registered with the host
	// kernel's set_robust_list2, which walks it.
	BackendHostRobustList2
	// BackendHostLegacy: the list is registered with the host kernel's own
	// set_robust_list (a list whose layout is the host's, on a task whose
	// emulator does not use that slot itself).
	BackendHostLegacy
	// BackendHostNative: the guest's syscalls go to the host kernel
	// untouched (fexrl run --mode native, the oracle); fexrl only records.
	BackendHostNative
)

// String returns a short name such as "fexrl-walk".
func (b Backend) String() string {
	switch b {
	case BackendWalk:
		return "fexrl-walk"
	case BackendHostRobustList2:
		return "host-set_robust_list2"
	case BackendHostLegacy:
		return "host-set_robust_list"
	case BackendHostNative:
		return "host-native"
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}

// MarshalText makes reports print the name in JSON.
func (b Backend) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
