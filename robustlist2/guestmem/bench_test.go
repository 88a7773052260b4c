package guestmem_test

import (
	"testing"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// BenchmarkSimulatedLoadCAS is one walker step on Simulated memory:
// Load32 and a CompareAndSwap32 that swaps (and is logged).
func BenchmarkSimulatedLoadCAS(b *testing.B) {
	s := new(guestmem.Simulated)
	const guest = 0x100000
	if err := s.Map(guest, guestmem.SimPageSize, guestmem.PermReadWrite); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1023 == 0 {
			s.ClearWrites() // keep the log bounded; it keeps its capacity
		}
		a := guest + uint64(i&63)*4
		v, err := s.Load32(a)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.CompareAndSwap32(a, v, v+1); err != nil {
			b.Fatal(err)
		}
	}
}
