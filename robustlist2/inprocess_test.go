package robustlist2_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// realGuest is guest memory in this process (below 4 GiB, so 32-bit lists
// fit), reached through guestmem.InProcess: real loads, real atomic
// compare-and-swap, real FUTEX_WAKE.
type realGuest struct {
	mem  []byte
	base uint64
	im   *guestmem.InProcess
}

func newRealGuest(t testing.TB, size int) *realGuest {
	t.Helper()
	var mem []byte
	for hint := uintptr(0x38000000); hint < 0xf0000000 && mem == nil; hint += 0x01000000 {
		p, err := unix.MmapPtr(-1, 0, *(*unsafe.Pointer)(unsafe.Pointer(&hint)), uintptr(size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
		if err == nil {
			mem = unsafe.Slice((*byte)(p), size)
		}
	}
	if mem == nil {
		t.Fatal("no room below 4 GiB")
	}
	t.Cleanup(func() { _ = unix.MunmapPtr(unsafe.Pointer(&mem[0]), uintptr(size)) })
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	im, err := guestmem.NewInProcess([]guestmem.Range{{Start: base, End: base + uint64(size)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &realGuest{mem: mem, base: base, im: im}
}

func (g *realGuest) ptr(bits abi.Bits, addr, v uint64) {
	if bits == abi.Bits32 {
		binary.LittleEndian.PutUint32(g.mem[addr-g.base:], uint32(v))
	} else {
		binary.LittleEndian.PutUint64(g.mem[addr-g.base:], v)
	}
}

func (g *realGuest) word(addr uint64) *uint32 { return (*uint32)(unsafe.Pointer(&g.mem[addr-g.base])) }

// list lays out a head at g.base and n nodes 32 bytes apart, with each
// futex word 8 bytes before its node; owners[i] is word i's value.
func (g *realGuest) list(bits abi.Bits, owners []uint32) []uint64 {
	head := g.base
	lay := bits.Head()
	words := make([]uint64, len(owners))
	next := head
	for i := len(owners) - 1; i >= 0; i-- {
		node := head + 64 + uint64(i)*32
		g.ptr(bits, node, next)
		words[i] = node - 8
		*g.word(words[i]) = owners[i]
		next = node
	}
	g.ptr(bits, head+lay.Next, next)
	if bits == abi.Bits32 {
		binary.LittleEndian.PutUint32(g.mem[lay.FutexOffset:], uint32(0xfffffff8))
	} else {
		binary.LittleEndian.PutUint64(g.mem[lay.FutexOffset:], ^uint64(7))
	}
	g.ptr(bits, head+lay.ListOpPending, 0)
	return words
}

// futexWaiter sleeps in FUTEX_WAIT on w (with FUTEX_WAITERS set, as a
// libc does) on its own OS thread and says what woke it.
func futexWaiter(w *uint32, tids chan<- int, done chan<- string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tids <- unix.Gettid()
	for {
		v := atomic.LoadUint32(w)
		if v&abi.FutexOwnerDied != 0 {
			done <- "owner-died"
			return
		}
		if v&abi.FutexWaiters == 0 && !atomic.CompareAndSwapUint32(w, v, v|abi.FutexWaiters) {
			continue
		}
		ts := unix.Timespec{Nsec: 300 * 1000 * 1000}
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), abi.FutexWait, uintptr(v|abi.FutexWaiters),
			uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == unix.ETIMEDOUT {
			done <- "still asleep"
			return
		}
	}
}

func asleepInFutex(t *testing.T, tid int) {
	t.Helper()
	path := fmt.Sprintf("/proc/self/task/%d/wchan", tid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "futex") {
			return
		}
	}
	t.Fatalf("thread %d never slept in a futex", tid)
}

// TestWalkWakesRealThreads: OS threads blocked in FUTEX_WAIT on guest
// words are woken by the walk and see OWNER_DIED; a thread waiting on a
// word the dead task did not own stays asleep.
func TestWalkWakesRealThreads(t *testing.T) {
	for _, bits := range []abi.Bits{abi.Bits32, abi.Bits64} {
		t.Run(bits.String(), func(t *testing.T) {
			g := newRealGuest(t, 4096)
			const other = 0x999
			words := g.list(bits, []uint32{tid, tid, other})
			tids := make(chan int, 3)
			got := map[uint64]chan string{}
			for _, w := range words {
				c := make(chan string, 1)
				got[w] = c
				go futexWaiter(g.word(w), tids, c)
				asleepInFutex(t, <-tids)
			}
			var walker robustlist2.Walker
			r := walker.Walk(g.im, guestmem.NewFutexWaker(g.im), g.base, bits, tid, robustlist2.WalkOptions{})
			if r.Marked != 2 || r.Woken != 2 || r.Stop != robustlist2.StopEnd {
				t.Fatalf("report %+v", r)
			}
			for i, w := range words[:2] {
				select {
				case s := <-got[w]:
					if s != "owner-died" {
						t.Errorf("waiter %d: %s", i, s)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("waiter %d not woken within 5 s", i)
				}
			}
			if s := <-got[words[2]]; s != "still asleep" {
				t.Errorf("the waiter on a word the task did not own: %s", s)
			}
		})
	}
}

// TestHostileListCannotTouchTheEmulator: a guest list whose entries point
// outside the guest's memory, at the emulator's own data, leaves that data
// alone and reports the fault.
func TestHostileListCannotTouchTheEmulator(t *testing.T) {
	canary := make([]uint32, 1024)
	for i := range canary {
		canary[i] = tid // every word looks owned by the dying task
	}
	canaryAddr := uint64(uintptr(unsafe.Pointer(&canary[0])))
	for _, bits := range []abi.Bits{abi.Bits32, abi.Bits64} {
		t.Run(bits.String(), func(t *testing.T) {
			g := newRealGuest(t, 4096)
			lay := bits.Head()
			var target uint64
			if bits == abi.Bits64 {
				target = canaryAddr + 64
			} else {
				target = uint64(uint32(canaryAddr + 64)) // what a 32-bit pointer can say
			}
			g.ptr(bits, g.base+lay.Next, target)
			g.ptr(bits, g.base+lay.FutexOffset, 0)
			g.ptr(bits, g.base+lay.ListOpPending, target)
			var walker robustlist2.Walker
			r := walker.Walk(g.im, guestmem.NewFutexWaker(g.im), g.base, bits, tid, robustlist2.WalkOptions{})
			if !r.Failed() || r.Marked != 0 {
				t.Fatalf("the walk did not stop on the outside pointer: %+v", r)
			}
			for i, v := range canary {
				if v != tid {
					t.Fatalf("canary word %d changed to %#x", i, v)
				}
			}
		})
	}
	runtime.KeepAlive(canary)
}
