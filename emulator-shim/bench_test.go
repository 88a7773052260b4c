package shim_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// BenchmarkThreadLifecycle measures what fexrl adds to one guest thread's
// life inside an emulator that links the shim: the clone, the thread's
// set_robust_list, and its death holding one robust mutex (one walk, one
// word marked), on in-process guest memory. Its baseline, measured in the
// same run, is the life of one real OS thread that does the same with the
// host kernel (registers the list, dies holding the lock, and the kernel
// walks it), which is the least any guest thread costs: the ratio is
// fexrl's share of a thread's life in an emulator.
func BenchmarkThreadLifecycle(b *testing.B) {
	b.Run("host-thread", func(b *testing.B) {
		if _, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, 0, 0, 0); e == unix.ENOSYS {
			b.Skip("this host's kernel has no set_robust_list (qemu-user): no baseline")
		}
		if unsafe.Sizeof(uintptr(0)) != 8 {
			b.Skip("the baseline registers a 64-bit list: it needs a 64-bit host")
		}
		a := newArena(b, 4096)
		head := a.base
		for i := 0; i < b.N; i++ {
			w := dieHolding(a, head)
			for atomic.LoadUint32(w) != abi.FutexOwnerDied {
				runtime.Gosched()
			}
		}
	})
	for _, arch := range []abi.Arch{x86_32.Arch(), x86_64.Arch()} {
		// What fexrl does for a guest thread, start to end.
		b.Run(fmt.Sprintf("shim/bits=%d", arch.Bits), func(b *testing.B) {
			a := newArena(b, 4096)
			s := shim.New(shim.Config{Memory: a.im, Waker: guestmem.NewFutexWaker(a.im)})
			const parent = 100
			s.TaskStarted(parent, parent)
			set := translator.Call{ABI: arch, Nr: arch.Syscalls.SetRobustList, Args: [6]uint64{a.base, arch.RobustHead.Size}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				child := int32(1000 + i%30000)
				s.TaskCreated(parent, child, parent)
				a.lockList(a.base, arch.Bits, uint32(child), 1)
				if res, handled := s.Syscall(child, set, nil); !handled || res != 0 {
					b.Fatalf("set_robust_list: %v %d", handled, res)
				}
				walks := s.TaskExited(child, shim.Death{Cause: shim.CauseExit}, nil)
				if len(walks) != 1 || walks[0].Report == nil || walks[0].Report.Marked != 1 {
					b.Fatalf("walks %+v", walks)
				}
			}
		})
	}
}

// dieHolding runs, on an OS thread that then ends, a task that registers a
// one-entry 64-bit list at head with the host kernel and holds its lock;
// it returns the futex word, which the kernel marks as the thread dies.
func dieHolding(a *guestArena, head uint64) *uint32 {
	done := make(chan *uint32)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Go never ends the main thread: do it from another one.
			w := dieHolding(a, head)
			runtime.UnlockOSThread()
			done <- w
			return
		}
		// Returning without UnlockOSThread ends the OS thread.
		words := a.lockList(head, abi.Bits64, uint32(unix.Gettid()), 1)
		unix.Syscall(unix.SYS_SET_ROBUST_LIST, uintptr(head), 24, 0)
		done <- a.word(words[0])
	}()
	return <-done
}
