package guestmem_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv selects a child role: the test binary re-executed by
// startChild runs that role instead of the tests.
const childEnv = "GUESTMEM_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

func runChild(role string) int {
	var err error
	switch role {
	case "mem":
		err = childMem()
	case "shared":
		err = childShared()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// Pattern bytes of the "mem" child's pages.
func patternRW(i int) byte { return byte(i*7 + 1) }
func patternRO(i int) byte { return byte(0xa5 ^ i) }

// childMem maps three pages: read-write with patternRW, unmapped (the
// hole), read-only with patternRO; prints "base=%#x hole=%#x ro=%#x"; then
// serves commands on stdin until EOF:
//
//	set ADDR VAL   store the 32-bit VAL at ADDR, answer "ok"
//	get ADDR       answer "val=%#x" with the 32-bit word at ADDR
func childMem() error {
	ps := os.Getpagesize()
	p, err := unix.MmapPtr(-1, 0, ptrAt(farHint(1)), uintptr(3*ps), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	base := uintptr(p)
	r := region{addr: base, size: 3 * ps}
	mem := r.bytes()
	for i := range ps {
		mem[i] = patternRW(i)
		mem[2*ps+i] = patternRO(i)
	}
	if err := unix.MunmapPtr(ptrAt(base+uintptr(ps)), uintptr(ps)); err != nil {
		return err
	}
	if err := unix.Mprotect(mem[2*ps:], unix.PROT_READ); err != nil {
		return err
	}
	fmt.Printf("base=%#x hole=%#x ro=%#x\n", base, base+uintptr(ps), base+uintptr(2*ps))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var addr uintptr
		var val uint32
		if _, err := fmt.Sscanf(sc.Text(), "set %v %v", &addr, &val); err == nil {
			atomic.StoreUint32((*uint32)(ptrAt(addr)), val)
			fmt.Println("ok")
			continue
		}
		if _, err := fmt.Sscanf(sc.Text(), "get %v", &addr); err == nil {
			fmt.Printf("val=%#x\n", atomic.LoadUint32((*uint32)(ptrAt(addr))))
			continue
		}
		return fmt.Errorf("bad command %q", sc.Text())
	}
	return sc.Err()
}

// Initial words of the "shared" child.
const (
	sharedInitial  = 0x1234
	privateInitial = 0x5678
)

// childShared maps a MAP_SHARED|MAP_ANONYMOUS page whose word at offset 64
// holds sharedInitial, and a private page whose first word holds
// privateInitial; a thread of its own blocks in a shared FUTEX_WAIT on the
// shared word. It prints "shared=%#x private=%#x tid=%d"; when the waiter
// returns because the word changed (or after 60 s), it prints
// "woke errno=%d val=%#x" with FUTEX_WAIT's last result (0: woken). It
// exits when stdin closes.
func childShared() error {
	ps := os.Getpagesize()
	sp, err := unix.MmapPtr(-1, 0, nil, uintptr(ps), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	pp, err := unix.MmapPtr(-1, 0, nil, uintptr(ps), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	shared := uintptr(sp) + 64
	word := (*uint32)(ptrAt(shared))
	atomic.StoreUint32(word, sharedInitial)
	atomic.StoreUint32((*uint32)(pp), privateInitial)

	tids := make(chan int)
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		deadline := time.Now().Add(60 * time.Second)
		for {
			e := futexWait(shared, sharedInitial, time.Until(deadline))
			v := atomic.LoadUint32(word)
			if v != sharedInitial || e == syscall.ETIMEDOUT || time.Now().After(deadline) {
				done <- fmt.Sprintf("woke errno=%d val=%#x", int(e), v)
				return
			}
		}
	}()
	fmt.Printf("shared=%#x private=%#x tid=%d\n", shared, uintptr(pp), <-tids)
	fmt.Println(<-done)
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}
