package guestmem_test

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// guestBase is the guest address of the test regions: host = guest + base.
const guestBase = 0x10000

// layout is a four-page test region seen as guest memory:
// page 0 and 1 read-write, page 2 unmapped, page 3 read-only.
type layout struct {
	host  region
	guest uint64 // guest address of page 0
	ps    uint64
	mem   *guestmem.InProcess
}

func (l *layout) page(i int) uint64 { return l.guest + uint64(i)*l.ps }
func (l *layout) end() uint64       { return l.guest + 4*l.ps }

func newLayout(t *testing.T) *layout {
	t.Helper()
	r := mapRegionAt(t, farHint(2), 4, unix.MAP_PRIVATE)
	ps := os.Getpagesize()
	b := r.bytes()
	for i := range 2 * ps {
		b[i] = byte(i)
	}
	for i := range ps {
		b[3*ps+i] = byte(0xff - i)
	}
	if err := unix.MunmapPtr(ptrAt(r.addr+uintptr(2*ps)), uintptr(ps)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(b[3*ps:], unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	l := &layout{host: r, guest: guestBase, ps: uint64(ps)}
	base := uint64(r.addr) - guestBase
	// Two adjacent ranges, given out of order: they merge into one.
	m, err := guestmem.NewInProcess([]guestmem.Range{
		{Start: l.page(2), End: l.end()},
		{Start: l.guest, End: l.page(2)},
	}, base)
	if err != nil {
		t.Fatal(err)
	}
	l.mem = m
	return l
}

func TestInProcessRanges(t *testing.T) {
	l := newLayout(t)
	if got := l.mem.Ranges(); len(got) != 1 || got[0] != (guestmem.Range{Start: l.guest, End: l.end()}) {
		t.Fatalf("Ranges() = %v, want one merged range", got)
	}
	tests := []struct {
		name string
		addr uint64
		size int // 4 or 8
		want error
	}{
		{"first word", l.guest, 4, nil},
		{"first long", l.guest, 8, nil},
		{"last word (read-only page)", l.end() - 4, 4, nil},
		{"last long", l.end() - 8, 8, nil},
		{"word straddling the end", l.end() - 2, 4, guestmem.ErrOutside},
		{"long straddling the end", l.end() - 4, 8, guestmem.ErrOutside},
		{"word just past the end", l.end(), 4, guestmem.ErrOutside},
		{"word just before the start", l.guest - 4, 4, guestmem.ErrOutside},
		{"long straddling the start", l.guest - 4, 8, guestmem.ErrOutside},
		{"address zero", 0, 4, guestmem.ErrOutside},
		{"host address of the region", uint64(l.host.addr), 4, guestmem.ErrOutside},
		{"addr+size wraps", math.MaxUint64 - 3, 8, guestmem.ErrOutside},
		{"last byte of address space", math.MaxUint64, 4, guestmem.ErrOutside},
		{"unmapped page in range", l.page(2), 4, guestmem.ErrFault},
		{"unmapped page, middle", l.page(2) + 100, 8, guestmem.ErrFault},
		{"long running into the unmapped page", l.page(2) - 4, 8, guestmem.ErrFault},
		{"long running out of the unmapped page", l.page(3) - 4, 8, guestmem.ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.size == 4 {
				_, err = l.mem.Load32(tt.addr)
			} else {
				_, err = l.mem.Load64(tt.addr)
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("load%d(%#x) error = %v, want %v", tt.size*8, tt.addr, err, tt.want)
			}
			if err != nil {
				var ae *guestmem.AccessError
				if !errors.As(err, &ae) || ae.Addr != tt.addr || ae.Size != tt.size {
					t.Fatalf("error %v is not an AccessError for %#x/%d", err, tt.addr, tt.size)
				}
			}
		})
	}
}

func TestNewInProcessErrors(t *testing.T) {
	tests := []struct {
		name   string
		ranges []guestmem.Range
		base   uint64
		want   error
	}{
		{"no ranges", nil, 0, guestmem.ErrInvalid},
		{"empty range", []guestmem.Range{{Start: 0x1000, End: 0x1000}}, 0, guestmem.ErrInvalid},
		{"inverted range", []guestmem.Range{{Start: 0x2000, End: 0x1000}}, 0, guestmem.ErrInvalid},
		{"base+addr overflows", []guestmem.Range{{Start: 0x1000, End: 0x3000}}, math.MaxUint64 - 0x2000, guestmem.ErrOutside},
		{"base+end overflows exactly", []guestmem.Range{{Start: 0x1000, End: 0x2000}}, math.MaxUint64 - 0x1ffe, guestmem.ErrOutside},
	}
	if unsafe.Sizeof(uintptr(0)) == 4 {
		tests = append(tests, struct {
			name   string
			ranges []guestmem.Range
			base   uint64
			want   error
		}{"beyond a 32-bit host", []guestmem.Range{{Start: 0xffff_f000, End: 0x1_0000_1000}}, 0, guestmem.ErrOutside})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guestmem.NewInProcess(tt.ranges, tt.base)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewInProcess error = %v, want %v", err, tt.want)
			}
		})
	}
	// The largest host address that fits is accepted.
	if _, err := guestmem.NewInProcess([]guestmem.Range{{Start: 0x1000, End: 0x2000}}, uint64(^uintptr(0))-0x1fff); err != nil {
		t.Fatalf("range ending at the top of the host address space: %v", err)
	}
}

func TestInProcessUnaligned(t *testing.T) {
	l := newLayout(t)
	host := l.host.bytes()
	for off := range uint64(9) {
		a := l.guest + off
		v32, err := l.mem.Load32(a)
		if err != nil || v32 != binary.LittleEndian.Uint32(host[off:]) {
			t.Errorf("Load32(+%d) = %#x, %v; want %#x", off, v32, err, binary.LittleEndian.Uint32(host[off:]))
		}
		v64, err := l.mem.Load64(a)
		if err != nil || v64 != binary.LittleEndian.Uint64(host[off:]) {
			t.Errorf("Load64(+%d) = %#x, %v; want %#x", off, v64, err, binary.LittleEndian.Uint64(host[off:]))
		}
	}
	// A load across the boundary of pages 0 and 1.
	a := l.page(1) - 3
	if v, err := l.mem.Load64(a); err != nil || v != binary.LittleEndian.Uint64(host[l.ps-3:]) {
		t.Errorf("Load64 across pages = %#x, %v", v, err)
	}
	for off := range uint64(9) {
		a := l.page(1) - 6 + off
		if err := l.mem.Store64(a, 0x0807060504030201+off); err != nil {
			t.Fatalf("Store64(%#x): %v", a, err)
		}
		if got := binary.LittleEndian.Uint64(host[a-l.guest:]); got != 0x0807060504030201+off {
			t.Errorf("after Store64(+%d) memory holds %#x", off, got)
		}
		if err := l.mem.Store32(a+1, 0xdeadbeef); err != nil {
			t.Fatalf("Store32(%#x): %v", a+1, err)
		}
		if got := binary.LittleEndian.Uint32(host[a+1-l.guest:]); got != 0xdeadbeef {
			t.Errorf("after Store32 memory holds %#x", got)
		}
	}
}

func TestInProcessCompareAndSwap(t *testing.T) {
	l := newLayout(t)
	host := l.host.bytes()
	a := l.guest + 16
	binary.LittleEndian.PutUint32(host[16:], 100)
	tests := []struct {
		name      string
		addr      uint64
		old, new  uint32
		wantPrev  uint32
		wantAfter uint32
		wantErr   error
	}{
		{"swap", a, 100, 0x40000064, 100, 0x40000064, nil},
		{"stale old: no swap, prev returned", a, 100, 7, 0x40000064, 0x40000064, nil},
		{"swap back", a, 0x40000064, 100, 0x40000064, 100, nil},
		{"misaligned by 1", a + 1, 0, 1, 0, 100, guestmem.ErrMisaligned},
		{"misaligned by 2", a + 2, 0, 1, 0, 100, guestmem.ErrMisaligned},
		{"outside", l.end(), 0, 1, 0, 100, guestmem.ErrOutside},
		{"unmapped page", l.page(2), 0, 1, 0, 100, guestmem.ErrFault},
		{"read-only page", l.page(3), 0xfcfdfeff, 1, 0, 100, guestmem.ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, err := l.mem.CompareAndSwap32(tt.addr, tt.old, tt.new)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if prev != tt.wantPrev {
				t.Errorf("prev = %#x, want %#x", prev, tt.wantPrev)
			}
			if got := binary.LittleEndian.Uint32(host[16:]); got != tt.wantAfter {
				t.Errorf("word = %#x, want %#x", got, tt.wantAfter)
			}
		})
	}
}

func TestInProcessReadOnlyPage(t *testing.T) {
	l := newLayout(t)
	ro := l.page(3)
	if v, err := l.mem.Load32(ro); err != nil || v != 0xfcfdfeff {
		t.Fatalf("Load32 of read-only page = %#x, %v", v, err)
	}
	if v, err := l.mem.Load64(ro + 1); err != nil || v != 0xf7f8f9fafbfcfdfe {
		t.Fatalf("Load64 of read-only page = %#x, %v", v, err)
	}
	for name, f := range map[string]func() error{
		"Store32":           func() error { return l.mem.Store32(ro, 1) },
		"Store32 unaligned": func() error { return l.mem.Store32(ro+1, 1) },
		"Store64":           func() error { return l.mem.Store64(ro+8, 1) },
		"CompareAndSwap32":  func() error { _, err := l.mem.CompareAndSwap32(ro, 0xfcfdfeff, 1); return err },
	} {
		if err := f(); !errors.Is(err, guestmem.ErrFault) {
			t.Errorf("%s on a read-only page: error = %v, want ErrFault", name, err)
		}
	}
	// A store that straddles into the read-only page faults; the bytes
	// before the fault may be written, as with the kernel.
	if err := l.mem.Store64(ro-4, 0); !errors.Is(err, guestmem.ErrFault) {
		t.Errorf("Store64 into the read-only page: error = %v, want ErrFault", err)
	}
	if v, _ := l.mem.Load32(ro); v != 0xfcfdfeff {
		t.Errorf("read-only word changed to %#x", v)
	}
}

func TestInProcessRestoresPanicOnFault(t *testing.T) {
	l := newLayout(t)
	for _, setting := range []bool{false, true} {
		debug.SetPanicOnFault(setting)
		if _, err := l.mem.Load32(l.page(2)); !errors.Is(err, guestmem.ErrFault) {
			t.Fatalf("load of unmapped page: %v", err)
		}
		if _, err := l.mem.Load32(l.guest); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetPanicOnFault(false); got != setting {
			t.Fatalf("panic-on-fault setting = %v after the loads, want %v restored", got, setting)
		}
	}
}

func TestInProcessConcurrentCAS(t *testing.T) {
	l := newLayout(t)
	a := l.guest + 64
	const workers, each = 4, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					v, err := l.mem.Load32(a)
					if err != nil {
						t.Error(err)
						return
					}
					prev, err := l.mem.CompareAndSwap32(a, v, v+1)
					if err != nil {
						t.Error(err)
						return
					}
					if prev == v {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	start := binary.LittleEndian.Uint32([]byte{64, 65, 66, 67})
	if v, _ := l.mem.Load32(a); v != start+workers*each {
		t.Fatalf("counter = %d, want %d: a compare-and-swap was not atomic", v-start, workers*each)
	}
}
