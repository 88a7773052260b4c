package robustlist2_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// BenchmarkWalk walks a list whose every entry the dying task owns (the
// worst case: one compare-and-swap per entry) in real in-process guest
// memory, as an emulator sharing its guest's address space does. Each
// iteration first sets the words back to the owner's TID (one plain store
// per entry, inside the timer: stopping the timer costs more).
func BenchmarkWalk(b *testing.B) {
	for _, bits := range []abi.Bits{abi.Bits32, abi.Bits64} {
		for _, n := range []int{1, 16, 256, 2048} {
			b.Run(fmt.Sprintf("bits=%d/entries=%d", bits, n), func(b *testing.B) {
				g := newRealGuest(b, 64+n*32+4096)
				owners := make([]uint32, n)
				for i := range owners {
					owners[i] = tid
				}
				words := g.list(bits, owners)
				waker := guestmem.NewFutexWaker(g.im)
				var w robustlist2.Walker
				w.Walk(g.im, waker, g.base, bits, tid, robustlist2.WalkOptions{}) // warm up
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, a := range words {
						*g.word(a) = tid
					}
					r := w.Walk(g.im, waker, g.base, bits, tid, robustlist2.WalkOptions{})
					if r.Marked != n {
						b.Fatalf("marked %d of %d", r.Marked, n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			})
		}
	}
}

// BenchmarkSetRobustList is the registry path of one set_robust_list.
func BenchmarkSetRobustList(b *testing.B) {
	reg := robustlist2.NewRegistry(robustlist2.Config{})
	task, _ := reg.Add(1, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := reg.SetRobustList(task, abi.Bits64, 0x7f0000001000+uint64(i&1)*64, 24); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKernelWalk is the baseline for BenchmarkWalk, measured in the
// same run: an OS thread registers a 64-bit list of n entries it owns with
// the host kernel's set_robust_list and exits, and the kernel walks the
// list. The per-entry cost of the kernel's walk is the difference between
// entries=2048 and entries=0, divided by 2048 (both include the thread's
// creation and exit). Hosts without set_robust_list (qemu-user) have no
// kernel walk to measure.
func BenchmarkKernelWalk(b *testing.B) {
	if _, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, 0, 0, 0); e == unix.ENOSYS {
		b.Skip("this host's kernel has no set_robust_list (qemu-user): no kernel baseline")
	}
	if unsafe.Sizeof(uintptr(0)) != 8 {
		b.Skip("the 64-bit list layout needs a 64-bit host")
	}
	for _, n := range []int{0, 2048} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			g := newRealGuest(b, 64+2048*32+4096)
			owners := make([]uint32, n)
			for i := 0; i < b.N; i++ {
				var last *uint32
				onDyingThread(func() {
					tid := uint32(unix.Gettid())
					for j := range owners {
						owners[j] = tid
					}
					words := g.list(abi.Bits64, owners)
					if n > 0 {
						last = g.word(words[n-1])
					}
					unix.Syscall(unix.SYS_SET_ROBUST_LIST, uintptr(g.base), 24, 0)
				})
				// The kernel marks the words as the thread exits.
				for last != nil && atomic.LoadUint32(last) != abi.FutexOwnerDied {
					runtime.Gosched()
				}
			}
		})
	}
}
