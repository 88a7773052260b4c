package shim_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// guestArena is guest memory in this process, as an emulator that shares
// its guest's address space has it.
type guestArena struct {
	mem  []byte
	base uint64
	im   *guestmem.InProcess
}

// newArena maps guest memory below 4 GiB, where a 32-bit guest's lists
// can live, for the life of the test.
func newArena(t testing.TB, size int) *guestArena {
	t.Helper()
	a, err := mapArena(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.unmap)
	return a
}

func (a *guestArena) unmap() { _ = unix.MunmapPtr(unsafe.Pointer(&a.mem[0]), uintptr(len(a.mem))) }

// mapArena maps size bytes of guest memory below 4 GiB.
func mapArena(size int) (*guestArena, error) {
	var mem []byte
	for hint := uintptr(0x30000000); hint < 0xf0000000 && mem == nil; hint += 0x10000000 {
		p, err := unix.MmapPtr(-1, 0, *(*unsafe.Pointer)(unsafe.Pointer(&hint)), uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
		if err == nil {
			mem = unsafe.Slice((*byte)(p), size)
		}
	}
	if mem == nil {
		return nil, fmt.Errorf("no room for guest memory below 4 GiB")
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	im, err := guestmem.NewInProcess([]guestmem.Range{{Start: base, End: base + uint64(size)}}, 0)
	if err != nil {
		_ = unix.MunmapPtr(unsafe.Pointer(&mem[0]), uintptr(size))
		return nil, err
	}
	return &guestArena{mem: mem, base: base, im: im}, nil
}

func (a *guestArena) put(addr uint64, bits abi.Bits, v uint64) {
	if bits == abi.Bits32 {
		binary.LittleEndian.PutUint32(a.mem[addr-a.base:], uint32(v))
	} else {
		binary.LittleEndian.PutUint64(a.mem[addr-a.base:], v)
	}
}

func (a *guestArena) word(addr uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.mem[addr-a.base]))
}

// lockList builds a robust list at head with n nodes 64 bytes apart, each
// holding its futex word 8 bytes before the node, all owned by tid.
func (a *guestArena) lockList(head uint64, bits abi.Bits, tid uint32, n int) []uint64 {
	lay := bits.Head()
	words := make([]uint64, n)
	first := head
	for i := n - 1; i >= 0; i-- {
		node := head + 64 + uint64(i)*64
		a.put(node, bits, first)
		words[i] = node - 8
		*a.word(words[i]) = tid
		first = node
	}
	a.put(head+lay.Next, bits, first)
	off := int64(-8)
	if bits == abi.Bits32 {
		a.put(head+lay.FutexOffset, bits, uint64(uint32(off)))
	} else {
		a.put(head+lay.FutexOffset, bits, uint64(off))
	}
	a.put(head+lay.ListOpPending, bits, 0)
	return words
}

func setRobustList(t testing.TB, s *shim.Shim, tid int32, a abi.Arch, head uint64) {
	t.Helper()
	c := translator.Call{ABI: a, Nr: a.Syscalls.SetRobustList, Args: [6]uint64{head, a.RobustHead.Size}}
	if res, handled := s.Syscall(tid, c, nil); !handled || res != 0 {
		t.Fatalf("set_robust_list: handled %v, %d", handled, res)
	}
}

// waitInFutex blocks the calling OS thread in a shared FUTEX_WAIT on w,
// after setting FUTEX_WAITERS, and reports how it came back.
func waitInFutex(w *uint32, tids chan<- int, result chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tids <- unix.Gettid()
	for {
		v := atomic.LoadUint32(w)
		if v&abi.FutexOwnerDied != 0 {
			result <- nil
			return
		}
		if v&abi.FutexWaiters == 0 && !atomic.CompareAndSwapUint32(w, v, v|abi.FutexWaiters) {
			continue
		}
		v |= abi.FutexWaiters
		ts := unix.Timespec{Sec: 20}
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), abi.FutexWait, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == unix.ETIMEDOUT {
			result <- fmt.Errorf("waiter on %p never woken (word %#x)", w, *w)
			return
		}
	}
}

// sleepingInFutex waits until thread tid of this process sleeps in a
// futex wait.
func sleepingInFutex(t testing.TB, tid int) {
	t.Helper()
	if err := waitSleeping(tid); err != nil {
		t.Fatal(err)
	}
}

// waitSleepingOn waits until thread tid of this process sleeps in a
// syscall whose first argument is addr (a FUTEX_WAIT on that word), from
// /proc/self/task/TID/syscall. Under qemu-user the wait channel alone says
// nothing: QEMU's own locks sleep in futexes too.
func waitSleepingOn(tid int, addr uint64) error {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	want := fmt.Sprintf("%#x", addr)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			return waitSleeping(tid) // a kernel without the file
		}
		if f := strings.Fields(string(b)); len(f) > 1 && f[1] == want {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("thread %d never slept in a futex wait on %s", tid, want)
}

func waitSleeping(tid int) error {
	path := fmt.Sprintf("/proc/self/task/%d/wchan", tid)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), "futex") {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("thread %d never slept in a futex", tid)
}

// TestManyThreadsDieAtOnce: 64 guest threads, each holding two robust
// mutexes (half of them i386 guests with 32-bit lists), die at the same
// time while a real OS thread waits on every mutex. Every waiter must
// wake, every word must be marked FUTEX_OWNER_DIED exactly once.
func TestManyThreadsDieAtOnce(t *testing.T) {
	const tasks, locks = 64, 2
	arena := newArena(t, tasks*4096)
	s := shim.New(shim.Config{Memory: arena.im, Waker: guestmem.NewFutexWaker(arena.im)})
	var words []uint64
	for i := 0; i < tasks; i++ {
		tid := int32(100000 + i)
		a := x86_64.Arch()
		if i%2 == 1 {
			a = x86_32.Arch()
		}
		s.TaskStarted(tid, 100000)
		head := arena.base + uint64(i)*4096
		words = append(words, arena.lockList(head, a.Bits, uint32(tid), locks)...)
		setRobustList(t, s, tid, a, head)
	}
	tids := make(chan int, len(words))
	results := make(chan error, len(words))
	for _, w := range words {
		go waitInFutex(arena.word(w), tids, results)
	}
	for range words {
		sleepingInFutex(t, <-tids)
	}
	var wg sync.WaitGroup
	for i := 0; i < tasks; i++ {
		wg.Add(1)
		go func(tid int32) {
			defer wg.Done()
			s.TaskExited(tid, shim.Death{Cause: shim.CauseExit}, nil)
		}(int32(100000 + i))
	}
	wg.Wait()
	for range words {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	for _, w := range words {
		if got := *arena.word(w); got != abi.FutexOwnerDied|abi.FutexWaiters {
			t.Errorf("word %#x = %#x, want OWNER_DIED|WAITERS", w, got)
		}
	}
	st := s.Stats()
	if st.OwnerDiedMarked != int64(len(words)) || st.Woken != int64(len(words)) || st.Walks != tasks {
		t.Errorf("stats %+v: want %d marked and woken in %d walks", st, len(words), tasks)
	}
	// Dying again changes nothing.
	for i := 0; i < tasks; i++ {
		if w := s.TaskExited(int32(100000+i), shim.Death{Cause: shim.CauseExit}, nil); len(w) != 0 {
			t.Fatalf("task %d walked twice", i)
		}
	}
	if st2 := s.Stats(); st2.OwnerDiedMarked != st.OwnerDiedMarked {
		t.Errorf("marked grew from %d to %d", st.OwnerDiedMarked, st2.OwnerDiedMarked)
	}
}

func TestSyscallHook(t *testing.T) {
	arena := newArena(t, 4096)
	s := shim.New(shim.Config{Memory: arena.im, Waker: guestmem.NewFutexWaker(arena.im), NoRobustList2: true})
	a64 := x86_64.Arch()
	tests := []struct {
		name    string
		tid     int32
		c       translator.Call
		handled bool
		res     translator.Result
	}{
		{"set_robust_list", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.SetRobustList, Args: [6]uint64{arena.base, 24}}, true, 0},
		{"bad length", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.SetRobustList, Args: [6]uint64{arena.base, 12}}, true, -22},
		{"get into guest memory", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.GetRobustList, Args: [6]uint64{0, arena.base + 64, arena.base + 72}}, true, 0},
		{"get to a bad pointer", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.GetRobustList, Args: [6]uint64{0, 8, arena.base + 72}}, true, -14},
		{"get of an unknown task", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.GetRobustList, Args: [6]uint64{999, arena.base + 64, arena.base + 72}}, true, -3},
		{"set_robust_list2 off: ENOSYS", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.SetRobustList2, Args: [6]uint64{0, 4}}, true, -38},
		{"not fexrl's: getpid", 7, translator.Call{ABI: a64, Nr: 39}, false, 0},
		{"clone is the emulator's", 7, translator.Call{ABI: a64, Nr: a64.Syscalls.Clone}, false, 0},
		{"unknown task is registered", 8, translator.Call{ABI: a64, Nr: a64.Syscalls.SetRobustList, Args: [6]uint64{arena.base, 24}}, true, 0},
	}
	s.TaskStarted(7, 7)
	for _, tt := range tests {
		res, handled := s.Syscall(tt.tid, tt.c, nil)
		if handled != tt.handled || res != tt.res {
			t.Errorf("%s: handled %v res %d, want %v %d", tt.name, handled, res, tt.handled, tt.res)
		}
	}
	if got := binary.LittleEndian.Uint64(arena.mem[64:]); got != arena.base {
		t.Errorf("get_robust_list wrote %#x", got)
	}
	if st := s.Stats(); st.UnknownTasks != 1 || st.ListsRegistered != 2 {
		t.Errorf("stats %+v", st)
	}
	if _, ok := s.Registry().Lookup(8); !ok {
		t.Error("the unknown task was not registered")
	}
}

func TestNoMemoryConfigured(t *testing.T) {
	s := shim.New(shim.Config{})
	s.TaskStarted(1, 1)
	a := x86_64.Arch()
	if res, handled := s.Syscall(1, translator.Call{ABI: a, Nr: a.Syscalls.GetRobustList, Args: [6]uint64{0, 8, 16}}, nil); !handled || res != -14 {
		t.Fatalf("get_robust_list without memory: %v %d", handled, res)
	}
	if w := s.TaskExited(1, shim.Death{Cause: shim.CauseExit}, nil); w != nil {
		t.Fatalf("walked without memory: %+v", w)
	}
	if _, ok := s.Registry().Lookup(1); ok {
		t.Fatal("a task that died without memory was kept")
	}
}

func TestOnWalk(t *testing.T) {
	arena := newArena(t, 4096)
	var seen []robustlist2.ListWalk
	s := shim.New(shim.Config{Memory: arena.im, Waker: guestmem.NewFutexWaker(arena.im),
		OnWalk: func(tid int32, c shim.Cause, w robustlist2.ListWalk) { seen = append(seen, w) }})
	s.TaskStarted(5, 5)
	arena.lockList(arena.base, abi.Bits64, 5, 3)
	setRobustList(t, s, 5, x86_64.Arch(), arena.base)
	walks := s.TaskExited(5, shim.Death{Cause: shim.CauseSignal}, nil)
	if len(walks) != 1 || len(seen) != 1 || seen[0].Report.Marked != 3 {
		t.Fatalf("walks %+v seen %+v", walks, seen)
	}
}

// TestTryUnlockFixup: a thread that dies in fexrl's try-unlock code after
// its compare-and-swap succeeded (IP in the fixup range, ZF set) has its
// pending op treated as cleared, as the kernel's fixup does; the same
// death without the code registered gets the kernel's pending rule.
func TestTryUnlockFixup(t *testing.T) {
	tu, err := translator.TryUnlockCode(64, abi.Bits64)
	if err != nil {
		t.Fatal(err)
	}
	for _, registered := range []bool{true, false} {
		t.Run(fmt.Sprintf("registered=%v", registered), func(t *testing.T) {
			arena := newArena(t, 8192)
			s := shim.New(shim.Config{Memory: arena.im, Waker: guestmem.NewFutexWaker(arena.im)})
			const tid = 77
			s.TaskStarted(tid, tid)
			head := arena.base
			arena.lockList(head, abi.Bits64, tid, 0) // an empty list
			pendingField := head + abi.Bits64.Head().ListOpPending
			word := arena.base + 4096                   // the "mutex", reused memory now holding the TID
			arena.put(pendingField, abi.Bits64, word+8) // its node; futex_offset is -8
			*arena.word(word) = tid
			setRobustList(t, s, tid, x86_64.Arch(), head)
			code := arena.base + 2048 // where the emulator put the function
			if registered {
				s.RegisterTryUnlock(tid, code, tu)
			}
			regs := &translator.Regs{RDX: pendingField}
			st := &translator.DeathState{Mode: 64, IP: code + uint64(tu.FixupStart), Flags: 1 << 6, Reg: regs.Lookup}
			walks := s.TaskExited(tid, shim.Death{Cause: shim.CauseSignal, State: st}, nil)
			got := *arena.word(word)
			if registered {
				if got != tid || walks[0].Report.Entries[0].Action != robustlist2.ActionPendingCleared {
					t.Fatalf("word %#x, report %+v: want the pending op cleared and the word untouched", got, walks[0].Report.Entries)
				}
			} else if got != abi.FutexOwnerDied {
				t.Fatalf("without the fixup the kernel's rule marks the pending word: %#x", got)
			}
		})
	}
}
