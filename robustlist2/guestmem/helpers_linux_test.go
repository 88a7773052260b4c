package guestmem_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/internal/testexec"
)

// ptrAt turns an integer address into a pointer without tripping go vet
// or checkptr (the memory is never Go memory).
func ptrAt(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// region is an anonymous mapping made for a test.
type region struct {
	addr uintptr
	size int
}

// bytes returns the region's memory (only its mapped pages may be used).
func (r region) bytes() []byte { return unsafe.Slice((*byte)(ptrAt(r.addr)), r.size) }

// mapRegion maps pages pages of anonymous memory, read-write, unmapped at
// the end of the test.
func mapRegion(t testing.TB, pages int, flags int) region {
	t.Helper()
	return mapRegionAt(t, 0, pages, flags)
}

// farHint is an address far below where the kernel (or qemu-user) places
// new mappings. A region with an unmapped page inside, made there, keeps
// its hole: the allocator, which goes top down, fills higher gaps first,
// while a hole at the allocation frontier is soon reused (the race
// detector's runtime maps small pieces, for one).
func farHint(slot int) uintptr {
	if unsafe.Sizeof(uintptr(0)) == 4 {
		return 0x4000_0000 + uintptr(slot)<<24
	}
	shift := 38 // a variable: the constant would not fit a 32-bit uintptr
	return uintptr(1)<<shift + uintptr(slot)<<30
}

// mapRegionAt is mapRegion at hint (a hint only: the kernel may choose
// another place).
func mapRegionAt(t testing.TB, hint uintptr, pages int, flags int) region {
	t.Helper()
	size := pages * os.Getpagesize()
	p, err := unix.MmapPtr(-1, 0, ptrAt(hint), uintptr(size), unix.PROT_READ|unix.PROT_WRITE, flags|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { _ = unix.MunmapPtr(p, uintptr(size)) })
	return region{addr: uintptr(p), size: size}
}

// emulated reports whether the test binary runs under a user-mode
// emulator (qemu-user): the host kernel's architecture, which qemu does
// not fake, is not one that runs GOARCH binaries natively.
func emulated() bool {
	b, err := os.ReadFile("/proc/sys/kernel/arch")
	if err != nil {
		return false
	}
	arch := strings.TrimSpace(string(b))
	native := map[string][]string{
		"amd64": {"x86_64"},
		"386":   {"x86_64", "i386", "i486", "i586", "i686"},
		"arm64": {"aarch64", "arm64"},
	}[runtime.GOARCH]
	if native == nil {
		return false
	}
	for _, a := range native {
		if a == arch {
			return false
		}
	}
	return true
}

// futexWait blocks in a shared (non-private) FUTEX_WAIT on the word at
// addr while it holds val, for at most timeout.
func futexWait(addr uintptr, val uint32, timeout time.Duration) syscall.Errno {
	ts := unix.NsecToTimespec(timeout.Nanoseconds())
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, addr, 0 /* FUTEX_WAIT */, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return e
}

// inFutexWait reports whether thread tid of process pid is blocked in a
// futex wait, from its wait channel (the host kernel's view, also under
// qemu-user, whose guest threads are host threads).
func inFutexWait(pid, tid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/wchan", pid, tid))
	return err == nil && strings.Contains(string(b), "futex")
}

// waitFutexBlocked waits until thread tid of pid is blocked in a futex
// wait.
func waitFutexBlocked(t *testing.T, pid, tid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !inFutexWait(pid, tid) {
		if time.Now().After(deadline) {
			t.Fatalf("thread %d of %d never blocked in FUTEX_WAIT", tid, pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// child is the test binary re-executed in a child role (see TestMain).
type child struct {
	pid   int
	in    io.WriteCloser
	lines chan string
	wait  chan error
}

// startChild runs the test binary with childEnv=role. Under qemu-user
// without FEXRL_EXEC_WRAPPER, the emulator running this binary (the host's
// view of /proc/thread-self/exe, which qemu does not fake) runs the child
// too, since the host kernel cannot.
func startChild(t *testing.T, role string) *child {
	t.Helper()
	cmd := testexec.Self("-test.run=^$")
	if len(testexec.Wrapper()) == 0 && emulated() {
		if exe, err := os.Readlink("/proc/thread-self/exe"); err == nil {
			cmd.Path = exe
			cmd.Args = append([]string{exe}, cmd.Args...)
		}
	}
	// The race detector's runtime sleeps a second at exit by default.
	cmd.Env = append(os.Environ(), childEnv+"="+role, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c := &child{pid: cmd.Process.Pid, in: in, lines: make(chan string, 16), wait: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.wait <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = in.Close()
		select {
		case <-c.wait:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-c.wait
		}
	})
	return c
}

// line returns the child's next output line.
func (c *child) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatal("child closed its output")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for the child")
	}
	return ""
}

// scan reads the child's next line with fmt.Sscanf.
func (c *child) scan(t *testing.T, format string, args ...any) {
	t.Helper()
	l := c.line(t)
	if _, err := fmt.Sscanf(l, format, args...); err != nil {
		t.Fatalf("child said %q, want %q: %v", l, format, err)
	}
}

// send writes one command line to the child.
func (c *child) send(t *testing.T, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		t.Fatal(err)
	}
}

// exit closes the child's input, which ends it, and waits for it.
func (c *child) exit(t *testing.T) {
	t.Helper()
	_ = c.in.Close()
	for range c.lines {
	}
	select {
	case err := <-c.wait:
		c.wait <- err
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit")
	}
}

// processVMMissing reports whether err says process_vm_readv/writev do not
// exist, which the test accepts only under qemu-user (see
// skipWithoutProcessVM).
func processVMMissing(err error) bool { return errors.Is(err, unix.ENOSYS) }

// skipWithoutProcessVM skips a test of the private (process_vm_readv /
// process_vm_writev) path of Process when err shows the calls are missing
// and the test runs under qemu-user: qemu-user does not implement them
// (qemu 7.2's linux-user/syscall.c has no case for process_vm_readv or
// process_vm_writev, so it answers ENOSYS). On a real kernel that is a
// failure, never a skip.
func skipWithoutProcessVM(t *testing.T, err error) {
	t.Helper()
	if err == nil || !processVMMissing(err) {
		return
	}
	if !emulated() {
		t.Fatalf("process_vm_readv/writev missing on a real kernel: %v", err)
	}
	t.Skipf("qemu-user does not implement process_vm_readv/writev (ENOSYS): the private path of Process cannot run here: %v", err)
}
