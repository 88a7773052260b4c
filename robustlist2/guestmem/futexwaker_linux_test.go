package guestmem_test

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// waiterResult is how one blocked thread's FUTEX_WAIT ended.
type waiterResult struct {
	word  string // "A" or "B"
	tid   int
	errno syscall.Errno
}

// startWaiter starts an OS thread blocked in a shared FUTEX_WAIT on the
// word at host address addr (which holds 0), and returns its tid. It
// reports on results when the wait ends for any reason but a signal.
func startWaiter(addr uintptr, word string, results chan<- waiterResult) int {
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		tids <- tid
		for {
			e := futexWait(addr, 0, 30*time.Second)
			if e == syscall.EINTR {
				continue
			}
			results <- waiterResult{word: word, tid: tid, errno: e}
			return
		}
	}()
	return <-tids
}

func TestFutexWakerWakesOneAtATime(t *testing.T) {
	r := mapRegion(t, 1, unix.MAP_PRIVATE)
	const guest = 0x40000
	mem, err := guestmem.NewInProcess([]guestmem.Range{{Start: guest, End: guest + uint64(r.size)}}, uint64(r.addr)-guest)
	if err != nil {
		t.Fatal(err)
	}
	w := guestmem.NewFutexWaker(mem)
	const nA = 3
	results := make(chan waiterResult, nA+1)
	var tidsA []int
	for range nA {
		tidsA = append(tidsA, startWaiter(r.addr, "A", results))
	}
	tidB := startWaiter(r.addr+64, "B", results)
	pid := os.Getpid()
	for _, tid := range append(tidsA, tidB) {
		waitFutexBlocked(t, pid, tid)
	}

	woken := map[int]bool{}
	for i := range nA {
		n, err := w.Wake(guest, 1)
		if err != nil || n != 1 {
			t.Fatalf("wake %d: Wake(A, 1) = %d, %v; want 1", i, n, err)
		}
		select {
		case res := <-results:
			if res.word != "A" || res.errno != 0 || woken[res.tid] {
				t.Fatalf("wake %d: %+v returned, want a new waiter on A woken (errno 0)", i, res)
			}
			woken[res.tid] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("wake %d: no waiter returned", i)
		}
		// Exactly one per call: nobody else returns.
		select {
		case res := <-results:
			t.Fatalf("wake %d woke a second waiter: %+v", i, res)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n, err := w.Wake(guest, 1); err != nil || n != 0 {
		t.Fatalf("Wake(A) with nobody waiting = %d, %v; want 0", n, err)
	}
	if n, err := w.Wake(guest+64, 0); err != nil || n != 0 {
		t.Fatalf("Wake(B, 0) = %d, %v; want 0 (n = 0 wakes nobody)", n, err)
	}
	if !inFutexWait(pid, tidB) {
		t.Fatal("the waiter on another word B was woken")
	}
	n, err := w.Wake(guest+64, 5)
	if err != nil || n != 1 {
		t.Fatalf("Wake(B, 5) = %d, %v; want 1", n, err)
	}
	if res := <-results; res.word != "B" || res.errno != 0 {
		t.Fatalf("B's wait ended with %+v", res)
	}
}

func TestFutexWakerErrors(t *testing.T) {
	r := mapRegionAt(t, farHint(3), 2, unix.MAP_PRIVATE)
	ps := uint64(os.Getpagesize())
	if err := unix.MunmapPtr(ptrAt(r.addr+uintptr(ps)), uintptr(ps)); err != nil {
		t.Fatal(err)
	}
	mem, err := guestmem.NewInProcess([]guestmem.Range{{Start: uint64(r.addr), End: uint64(r.addr) + 2*ps}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := guestmem.NewFutexWaker(mem)
	a := uint64(r.addr)
	tests := []struct {
		name string
		addr uint64
		n    int
		want error
	}{
		{"nobody waiting", a, 1, nil},
		{"misaligned", a + 2, 1, guestmem.ErrMisaligned},
		{"outside", a - 4, 1, guestmem.ErrOutside},
		{"straddling the end (so misaligned)", a + 2*ps - 2, 1, guestmem.ErrMisaligned},
		{"past the end", a + 2*ps, 1, guestmem.ErrOutside},
		{"unmapped page", a + ps, 1, guestmem.ErrFault},
		{"negative count", a, -1, guestmem.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := w.Wake(tt.addr, tt.n)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) || n != 0 {
				t.Fatalf("Wake(%#x, %d) = %d, %v; want 0, %v", tt.addr, tt.n, n, err, tt.want)
			}
		})
	}
}
