package main

import (
	"fmt"
	"strings"

	"github.com/fexrl/fexrl/abi"
)

// wordString spells a futex word: its owner's TID and flags.
func wordString(v uint32) string {
	var parts []string
	if tid := v & abi.FutexTIDMask; tid != 0 {
		parts = append(parts, fmt.Sprintf("TID %d", tid))
	}
	if v&abi.FutexOwnerDied != 0 {
		parts = append(parts, "OWNER_DIED")
	}
	if v&abi.FutexWaiters != 0 {
		parts = append(parts, "WAITERS")
	}
	if len(parts) == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%#x)", strings.Join(parts, "|"), v)
}
