//go:build race

package guestmem

import "unsafe"

// cas32 is the futex compare-and-swap (see cas_atomic.go), here as one
// LOCK CMPXCHG in assembly. Under the race detector sync/atomic performs
// the access inside ThreadSanitizer's C code, where a fault on a
// read-only page cannot become a Go panic and kills the process; an
// assembly function faults in Go code, so SetPanicOnFault applies.
//
//go:noescape
func cas32(p unsafe.Pointer, old, new uint32) uint32
