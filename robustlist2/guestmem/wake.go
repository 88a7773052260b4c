package guestmem

import (
	"fmt"
	"math"
)

// wakeCount validates a wake count: negative is invalid, and the kernel
// takes an int, so larger counts are clamped.
func wakeCount(addr uint64, n int) (int, error) {
	if n < 0 {
		return 0, accessErr(opWake, addr, 4, fmt.Errorf("wake count %d: %w", n, ErrInvalid))
	}
	return min(n, math.MaxInt32), nil
}
