package shim_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// The whole life of an i386 guest thread in an emulator that shares its
// guest's address space: the thread registers its 32-bit robust list,
// takes a lock, and dies holding it while another thread waits; fexrl
// walks the list and the waiter wakes with FUTEX_OWNER_DIED.
func Example() {
	arena, err := mapArena(4096) // guest memory below 4 GiB, identity-mapped
	if err != nil {
		panic(err)
	}
	defer arena.unmap()
	s := shim.New(shim.Config{Memory: arena.im, Waker: guestmem.NewFutexWaker(arena.im)})

	const tid = 4242
	s.TaskStarted(tid, tid)

	// The guest's libc lays out its list: head at base, one mutex whose
	// futex word sits 8 bytes before its list node.
	i386 := x86_32.Arch()
	words := arena.lockList(arena.base, abi.Bits32, tid, 1)
	word := arena.word(words[0])

	// The guest thread calls set_robust_list(head, 12) through int $0x80.
	res, handled := s.Syscall(tid, translator.Call{ABI: i386, Nr: i386.Syscalls.SetRobustList,
		Args: [6]uint64{arena.base, 12}}, nil)
	fmt.Println("set_robust_list handled:", handled, "result:", res)

	// Another thread blocks on the mutex.
	woke := make(chan uint32)
	waiting := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		waiting <- unix.Gettid()
		atomic.StoreUint32(word, tid|abi.FutexWaiters)
		ts := unix.Timespec{Sec: 20}
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), abi.FutexWait, tid|uintptr(abi.FutexWaiters), uintptr(unsafe.Pointer(&ts)), 0, 0)
		woke <- atomic.LoadUint32(word)
	}()
	if err := waitSleepingOn(<-waiting, words[0]); err != nil {
		panic(err)
	}

	// The guest thread dies: the emulator tells fexrl.
	walks := s.TaskExited(tid, shim.Death{Cause: shim.CauseExit}, nil)
	r := walks[0].Report
	fmt.Printf("walked %d list: %d entry, %d marked, %d woken\n", len(walks), r.Visited, r.Marked, r.Woken)

	w := <-woke
	fmt.Println("waiter woke; OWNER_DIED:", w&abi.FutexOwnerDied != 0, "WAITERS:", w&abi.FutexWaiters != 0, "owner TID:", w&abi.FutexTIDMask)
	// Output:
	// set_robust_list handled: true result: 0
	// walked 1 list: 1 entry, 1 marked, 1 woken
	// waiter woke; OWNER_DIED: true WAITERS: true owner TID: 0
}
