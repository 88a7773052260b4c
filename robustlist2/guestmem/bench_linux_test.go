package guestmem_test

import (
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// BenchmarkInProcessLoadCAS is one walker step on a futex word: Load32
// and CompareAndSwap32 (which swaps).
func BenchmarkInProcessLoadCAS(b *testing.B) {
	r := mapRegion(b, 1, unix.MAP_PRIVATE)
	const guest = 0x100000
	m, err := guestmem.NewInProcess([]guestmem.Range{{Start: guest, End: guest + uint64(r.size)}}, uint64(r.addr)-guest)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a := guest + uint64(i&63)*4
		v, err := m.Load32(a)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.CompareAndSwap32(a, v, v+1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInProcessLoadCASManyRanges is the same with 32 guest ranges
// (every other page of a 64-page region), alternating between two of
// them, so the lookup hint misses and the binary search runs every time.
func BenchmarkInProcessLoadCASManyRanges(b *testing.B) {
	r := mapRegion(b, 64, unix.MAP_PRIVATE)
	ps := uint64(r.size / 64)
	const guest = 0x100000
	var ranges []guestmem.Range
	for i := range uint64(32) {
		ranges = append(ranges, guestmem.Range{Start: guest + 2*i*ps, End: guest + (2*i+1)*ps})
	}
	m, err := guestmem.NewInProcess(ranges, uint64(r.addr)-guest)
	if err != nil {
		b.Fatal(err)
	}
	addrs := [2]uint64{ranges[3].Start + 64, ranges[28].Start + 64}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a := addrs[i&1]
		v, err := m.Load32(a)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.CompareAndSwap32(a, v, v+1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawLoadCAS is the floor the InProcess numbers compare with: the
// same step with bare sync/atomic on the same memory, with no range check
// and no fault guard (which, unlike InProcess, a bad address would crash).
func BenchmarkRawLoadCAS(b *testing.B) {
	r := mapRegion(b, 1, unix.MAP_PRIVATE)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := (*uint32)(ptrAt(r.addr + uintptr(i&63)*4))
		v := atomic.LoadUint32(p)
		atomic.CompareAndSwapUint32(p, v, v+1)
	}
}
