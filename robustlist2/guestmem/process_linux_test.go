package guestmem_test

import (
	"errors"
	"os"
	"testing"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// memChild is a running "mem" child and its memory.
type memChild struct {
	*child
	base, hole, ro uint64
	proc           *guestmem.Process
}

func startMemChild(t *testing.T) *memChild {
	t.Helper()
	c := &memChild{child: startChild(t, "mem")}
	c.scan(t, "base=%v hole=%v ro=%v", &c.base, &c.hole, &c.ro)
	p, err := guestmem.NewProcess(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	c.proc = p
	return c
}

// set makes the child itself store v at addr.
func (c *memChild) set(t *testing.T, addr uint64, v uint32) {
	t.Helper()
	c.send(t, "set %#x %#x", addr, v)
	if l := c.line(t); l != "ok" {
		t.Fatalf("child: %q", l)
	}
}

// get asks the child for the word at addr.
func (c *memChild) get(t *testing.T, addr uint64) uint32 {
	t.Helper()
	c.send(t, "get %#x", addr)
	var v uint32
	c.scan(t, "val=%v", &v)
	return v
}

func le32(b func(int) byte, i int) uint32 {
	return uint32(b(i)) | uint32(b(i+1))<<8 | uint32(b(i+2))<<16 | uint32(b(i+3))<<24
}

func le64(b func(int) byte, i int) uint64 {
	return uint64(le32(b, i)) | uint64(le32(b, i+4))<<32
}

func TestProcessRead(t *testing.T) {
	c := startMemChild(t)
	p := c.proc
	_, err := p.Load32(c.base)
	skipWithoutProcessVM(t, err)
	ps := uint64(os.Getpagesize())
	tests := []struct {
		name string
		addr uint64
		size int
		want uint64
		err  error
	}{
		{"first word", c.base, 4, uint64(le32(patternRW, 0)), nil},
		{"unaligned word", c.base + 5, 4, uint64(le32(patternRW, 5)), nil},
		{"unaligned long", c.base + 11, 8, le64(patternRW, 11), nil},
		{"last long of the page", c.base + ps - 8, 8, le64(patternRW, int(ps)-8), nil},
		{"read-only page", c.ro + 4, 4, uint64(le32(patternRO, 4)), nil},
		{"last long of the mapping", c.ro + ps - 8, 8, le64(patternRO, int(ps)-8), nil},
		{"unmapped hole", c.hole, 4, 0, guestmem.ErrFault},
		{"hole, middle", c.hole + 200, 8, 0, guestmem.ErrFault},
		{"long straddling into the hole", c.hole - 4, 8, 0, guestmem.ErrFault},
		{"word straddling out of the hole", c.ro - 2, 4, 0, guestmem.ErrFault},
		{"address zero", 0, 4, 0, guestmem.ErrFault},
		{"wrapping", 1<<64 - 4, 8, 0, guestmem.ErrOutside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Reset()
			var got uint64
			var err error
			if tt.size == 4 {
				var v uint32
				v, err = p.Load32(tt.addr)
				got = uint64(v)
			} else {
				got, err = p.Load64(tt.addr)
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || got != tt.want {
				t.Fatalf("load%d(%#x) = %#x, %v; want %#x, %v", tt.size*8, tt.addr, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestProcessPageCache(t *testing.T) {
	c := startMemChild(t)
	p := c.proc
	a := c.base + 64
	before, err := p.Load32(a)
	skipWithoutProcessVM(t, err)
	if before != le32(patternRW, 64) {
		t.Fatalf("Load32 = %#x, want %#x", before, le32(patternRW, 64))
	}
	// The child writes the word, and a neighbour on the same page, after
	// the page was cached: this walk does not see either.
	c.set(t, a, 0xcafe)
	c.set(t, a+128, 0xbeef)
	if v, err := p.Load32(a); err != nil || v != before {
		t.Fatalf("cached Load32 = %#x, %v; want the cached %#x", v, err, before)
	}
	if v, err := p.Load32(a + 128); err != nil || v != le32(patternRW, 192) {
		t.Fatalf("cached neighbour = %#x, %v; want the cached %#x", v, err, le32(patternRW, 192))
	}
	// A compare-and-swap reads the word live, and refreshes the cache.
	if prev, err := p.CompareAndSwap32(a, before, 1); err != nil || prev != 0xcafe {
		t.Fatalf("CompareAndSwap32 with the cached old = %#x, %v; want prev 0xcafe and no swap", prev, err)
	}
	if v, _ := p.Load32(a); v != 0xcafe {
		t.Fatalf("after the compare-and-swap, Load32 = %#x, want 0xcafe", v)
	}
	p.Reset()
	if v, err := p.Load32(a + 128); err != nil || v != 0xbeef {
		t.Fatalf("after Reset, Load32 = %#x, %v; want the child's 0xbeef", v, err)
	}
	// ResetCache drops the pages too (keeping the mappings it knows).
	c.set(t, a+128, 0xf00d)
	if v, _ := p.Load32(a + 128); v != 0xbeef {
		t.Fatalf("cached Load32 = %#x, want the cached 0xbeef", v)
	}
	p.ResetCache()
	if v, err := p.Load32(a + 128); err != nil || v != 0xf00d {
		t.Fatalf("after ResetCache, Load32 = %#x, %v; want the child's 0xf00d", v, err)
	}
}

func TestProcessWrite(t *testing.T) {
	c := startMemChild(t)
	p := c.proc
	a := c.base + 256
	_, err := p.Load32(a) // fill the cache
	skipWithoutProcessVM(t, err)

	if err := p.Store32(a, 0x11223344); err != nil {
		t.Fatal(err)
	}
	if got := c.get(t, a); got != 0x11223344 {
		t.Fatalf("child sees %#x after Store32", got)
	}
	if v, _ := p.Load32(a); v != 0x11223344 {
		t.Fatalf("the cache was not updated by Store32: %#x", v)
	}
	if err := p.Store64(a+5, 0x0102030405060708); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Load64(a + 5); v != 0x0102030405060708 {
		t.Fatalf("Load64 after an unaligned Store64 = %#x", v)
	}
	p.Reset()
	if v, _ := p.Load64(a + 5); v != 0x0102030405060708 {
		t.Fatalf("the child's memory after an unaligned Store64 holds %#x", v)
	}

	b := c.base + 512
	tests := []struct {
		name      string
		addr      uint64
		old, new  uint32
		wantPrev  uint32
		wantChild uint32
		err       error
	}{
		{"swap", b, le32(patternRW, 512), 0x40000007, le32(patternRW, 512), 0x40000007, nil},
		{"no swap", b, 7, 8, 0x40000007, 0x40000007, nil},
		{"misaligned", b + 1, 0, 1, 0, 0x40000007, guestmem.ErrMisaligned},
		{"read-only page", c.ro, le32(patternRO, 0), 1, 0, 0x40000007, guestmem.ErrFault},
		{"hole", c.hole, 0, 1, 0, 0x40000007, guestmem.ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, err := p.CompareAndSwap32(tt.addr, tt.old, tt.new)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || prev != tt.wantPrev {
				t.Fatalf("CompareAndSwap32 = %#x, %v; want %#x, %v", prev, err, tt.wantPrev, tt.err)
			}
			if got := c.get(t, b); got != tt.wantChild {
				t.Fatalf("child's word = %#x, want %#x", got, tt.wantChild)
			}
		})
	}
	for name, f := range map[string]func() error{
		"Store32 read-only": func() error { return p.Store32(c.ro+8, 1) },
		"Store64 read-only": func() error { return p.Store64(c.ro+8, 1) },
		"Store32 hole":      func() error { return p.Store32(c.hole, 1) },
		"Store64 into hole": func() error { return p.Store64(c.hole-4, 1) },
	} {
		if err := f(); !errors.Is(err, guestmem.ErrFault) {
			t.Errorf("%s: error = %v, want ErrFault", name, err)
		}
	}
	if v, _ := p.Load32(c.ro + 8); v != le32(patternRO, 8) {
		t.Errorf("read-only word changed to %#x", v)
	}
}

func TestProcessExited(t *testing.T) {
	c := startMemChild(t)
	p := c.proc
	c.exit(t)
	p.Reset()
	for name, f := range map[string]func() error{
		"Load32":           func() error { _, err := p.Load32(c.base); return err },
		"Store64":          func() error { return p.Store64(c.base, 1) },
		"CompareAndSwap32": func() error { _, err := p.CompareAndSwap32(c.base, 0, 1); return err },
		"Wake":             func() error { _, err := guestmem.NewProcessWaker(p, nil).Wake(c.base, 1); return err },
	} {
		if err := f(); !errors.Is(err, guestmem.ErrExited) {
			t.Errorf("%s on an exited process: error = %v, want ErrExited", name, err)
		}
	}
	if p.Shared(c.base) {
		t.Error("Shared on an exited process")
	}
	if _, err := guestmem.NewProcess(c.pid); !errors.Is(err, guestmem.ErrExited) {
		t.Errorf("NewProcess of an exited pid: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load32(c.base); !errors.Is(err, guestmem.ErrClosed) {
		t.Errorf("Load32 after Close: %v", err)
	}
}

func TestProcessShared(t *testing.T) {
	c := startChild(t, "shared")
	var shared, private uint64
	var tid int
	c.scan(t, "shared=%v private=%v tid=%d", &shared, &private, &tid)
	p, err := guestmem.NewProcess(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The child runs freely: nobody stops or traces it. Its waiter must be
	// asleep before the word changes, or it would never sleep at all.
	waitFutexBlocked(t, c.pid, tid)

	if !p.Shared(shared) {
		t.Fatal("Shared(word in MAP_SHARED|MAP_ANONYMOUS memory) = false")
	}
	if p.Shared(private) {
		t.Fatal("Shared(word in private memory) = true")
	}
	if p.Shared(8) {
		t.Fatal("Shared(unmapped address) = true")
	}
	if v, err := p.Load32(shared); err != nil || v != sharedInitial {
		t.Fatalf("Load32(shared) = %#x, %v; want %#x", v, err, sharedInitial)
	}
	const died = 0x40000000 | sharedInitial
	if prev, err := p.CompareAndSwap32(shared, 7, died); err != nil || prev != sharedInitial {
		t.Fatalf("CompareAndSwap32 with a wrong old = %#x, %v; want prev %#x", prev, err, sharedInitial)
	}
	if prev, err := p.CompareAndSwap32(shared, sharedInitial, died); err != nil || prev != sharedInitial {
		t.Fatalf("CompareAndSwap32 = %#x, %v; want prev %#x", prev, err, sharedInitial)
	}
	if _, err := p.CompareAndSwap32(shared+2, 0, 1); !errors.Is(err, guestmem.ErrMisaligned) {
		t.Fatalf("misaligned CompareAndSwap32: %v", err)
	}
	w := guestmem.NewProcessWaker(p, nil)
	n, err := w.Wake(shared, 1)
	if err != nil || n != 1 {
		t.Fatalf("Wake(shared, 1) = %d, %v; want 1 waiter woken through fexrl's mapping", n, err)
	}
	var errno int
	var seen uint32
	c.scan(t, "woke errno=%d val=%v", &errno, &seen)
	if errno != 0 || seen != died {
		t.Fatalf("the child's waiter returned errno %d and saw %#x; want woken (0) and %#x", errno, seen, died)
	}
	if n, err := w.Wake(shared, 1); err != nil || n != 0 {
		t.Fatalf("second Wake = %d, %v; want 0", n, err)
	}
	// Shared words stay live and uncached within a walk.
	if err := p.Store32(shared, 5); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Load32(shared); v != 5 {
		t.Fatalf("Load32 after Store32 through the mapping = %#x", v)
	}

	// A private word cannot be woken from outside.
	if _, err := w.Wake(private, 1); !errors.Is(err, guestmem.ErrPrivateWake) {
		t.Fatalf("Wake(private) without a fallback: %v, want ErrPrivateWake", err)
	}
	if _, err := w.Wake(8, 1); !errors.Is(err, guestmem.ErrFault) {
		t.Fatalf("Wake(unmapped): %v, want ErrFault", err)
	}
	var calls []uint64
	fw := guestmem.NewProcessWaker(p, func(addr uint64, n int) (int, error) {
		calls = append(calls, addr, uint64(n))
		return 3, nil
	})
	if n, err := fw.Wake(private, 2); err != nil || n != 3 {
		t.Fatalf("Wake(private) with a fallback = %d, %v; want the fallback's 3", n, err)
	}
	if n, err := fw.Wake(shared, 1); err != nil || n != 0 {
		t.Fatalf("Wake(shared) with a fallback = %d, %v; want 0 from the kernel", n, err)
	}
	if len(calls) != 2 || calls[0] != private || calls[1] != 2 {
		t.Fatalf("fallback calls = %#x, want exactly (private, 2)", calls)
	}

	// Across walks the mapping is reused; after the child is gone its
	// maps can no longer be read.
	p.Reset()
	if v, err := p.Load32(shared); err != nil || v != 5 {
		t.Fatalf("Load32(shared) in a new walk = %#x, %v", v, err)
	}
	c.exit(t)
	p.Reset()
	if _, err := p.Load32(shared); !errors.Is(err, guestmem.ErrExited) {
		t.Fatalf("Load32 after the child exited: %v, want ErrExited", err)
	}
}
