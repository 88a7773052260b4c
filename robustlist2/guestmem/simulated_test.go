package guestmem_test

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

const ps = guestmem.SimPageSize

// newSim maps, from 0x10000: two read-write pages, one read-only, one
// PermNone, then a gap (unmapped) and one read-write page; each mapped
// byte holds its address's low byte.
func newSim(t *testing.T) *guestmem.Simulated {
	t.Helper()
	s := new(guestmem.Simulated)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Map(0x10000, 2*ps, guestmem.PermReadWrite))
	must(s.Map(0x12000, ps, guestmem.PermRead))
	must(s.Map(0x13000, 1, guestmem.PermNone)) // rounds out to the page
	must(s.Map(0x15000, ps, guestmem.PermReadWrite))
	for _, a := range []uint64{0x10000, 0x11000, 0x12000, 0x13000, 0x15000} {
		b := make([]byte, ps)
		for i := range b {
			b[i] = byte(a + uint64(i))
		}
		must(s.WriteBytes(a, b))
	}
	return s
}

// seq returns the little-endian word of size bytes whose bytes are the
// low bytes of addr, addr+1, ...
func seq(addr uint64, size int) uint64 {
	var v uint64
	for i := range size {
		v |= uint64(byte(addr+uint64(i))) << (8 * i)
	}
	return v
}

func TestSimulatedLoads(t *testing.T) {
	s := newSim(t)
	tests := []struct {
		name string
		addr uint64
		size int
		err  error
	}{
		{"aligned word", 0x10000, 4, nil},
		{"unaligned word", 0x10003, 4, nil},
		{"unaligned long", 0x10005, 8, nil},
		{"word straddling rw pages", 0x10ffe, 4, nil},
		{"long straddling rw and read-only", 0x11ffc, 8, nil},
		{"read-only page", 0x12800, 8, nil},
		{"straddling read-only and none", 0x12ffe, 4, guestmem.ErrFault},
		{"none page", 0x13000, 4, guestmem.ErrFault},
		{"unmapped", 0x14000, 4, guestmem.ErrFault},
		{"straddling unmapped and rw", 0x14ffc, 8, guestmem.ErrFault},
		{"after the gap", 0x15ffc, 4, nil},
		{"past the end", 0x15ffd, 4, guestmem.ErrFault},
		{"wrapping", math.MaxUint64 - 2, 4, guestmem.ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got uint64
			var err error
			if tt.size == 4 {
				var v uint32
				v, err = s.Load32(tt.addr)
				got = uint64(v)
			} else {
				got, err = s.Load64(tt.addr)
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("load%d(%#x) error = %v, want %v", tt.size*8, tt.addr, err, tt.err)
			}
			if err == nil && got != seq(tt.addr, tt.size) {
				t.Fatalf("load%d(%#x) = %#x, want %#x", tt.size*8, tt.addr, got, seq(tt.addr, tt.size))
			}
		})
	}
}

func TestSimulatedStoresAndPermissions(t *testing.T) {
	s := newSim(t)
	tests := []struct {
		name string
		addr uint64
		size int
		err  error
	}{
		{"aligned word", 0x10000, 4, nil},
		{"unaligned long straddling rw pages", 0x10ffb, 8, nil},
		{"straddling rw and read-only", 0x11ffe, 4, guestmem.ErrFault},
		{"read-only", 0x12000, 8, guestmem.ErrFault},
		{"none", 0x13004, 4, guestmem.ErrFault},
		{"unmapped", 0x14000, 8, guestmem.ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ClearWrites()
			before, _ := s.ReadBytes(tt.addr&^(ps-1), 2*ps)
			var err error
			if tt.size == 4 {
				err = s.Store32(tt.addr, 0xa1b2c3d4)
			} else {
				err = s.Store64(tt.addr, 0x0102030405060708)
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("store%d(%#x) error = %v, want %v", tt.size*8, tt.addr, err, tt.err)
			}
			w := s.Writes()
			if tt.err != nil {
				after, _ := s.ReadBytes(tt.addr&^(ps-1), 2*ps)
				if len(w) != 0 || !slices.Equal(before, after) {
					t.Fatalf("a failed store wrote: log %v", w)
				}
				return
			}
			want := guestmem.Write{Addr: tt.addr, Size: tt.size, Old: seq(tt.addr, tt.size), New: 0xa1b2c3d4}
			if tt.size == 8 {
				want.New = 0x0102030405060708
			}
			if len(w) != 1 || w[0] != want {
				t.Fatalf("write log = %+v, want [%+v]", w, want)
			}
			b, _ := s.ReadBytes(tt.addr, tt.size)
			var v uint64
			for i, c := range b {
				v |= uint64(c) << (8 * i)
			}
			if v != want.New {
				t.Fatalf("memory holds %#x, want %#x", v, want.New)
			}
		})
	}
}

func TestSimulatedCompareAndSwap(t *testing.T) {
	s := newSim(t)
	a := uint64(0x10010)
	tests := []struct {
		name     string
		addr     uint64
		old, new uint32
		prev     uint32
		err      error
		logged   bool
	}{
		{"swap", a, uint32(seq(a, 4)), 0x40000000, uint32(seq(a, 4)), nil, true},
		{"no swap", a, 1, 2, 0x40000000, nil, false},
		{"misaligned", a + 2, 0, 1, 0, guestmem.ErrMisaligned, false},
		{"read-only", 0x12000, uint32(seq(0x12000, 4)), 1, 0, guestmem.ErrFault, false},
		{"none", 0x13000, 0, 1, 0, guestmem.ErrFault, false},
		{"unmapped", 0x14000, 0, 1, 0, guestmem.ErrFault, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ClearWrites()
			prev, err := s.CompareAndSwap32(tt.addr, tt.old, tt.new)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || prev != tt.prev {
				t.Fatalf("CompareAndSwap32 = %#x, %v; want %#x, %v", prev, err, tt.prev, tt.err)
			}
			if got := len(s.Writes()); got != map[bool]int{false: 0, true: 1}[tt.logged] {
				t.Fatalf("%d writes logged", got)
			}
		})
	}
}

func TestSimulatedMapping(t *testing.T) {
	s := newSim(t)
	if err := s.Protect(0x12000, 1, guestmem.PermReadWrite); err != nil {
		t.Fatal(err)
	}
	if err := s.Store32(0x12000, 5); err != nil {
		t.Fatalf("store after Protect(read-write): %v", err)
	}
	if v, _ := s.Load32(0x12004); v != uint32(seq(0x12004, 4)) {
		t.Fatal("Protect lost the page's contents")
	}
	if err := s.Protect(0x13000, 2*ps, guestmem.PermRead); !errors.Is(err, guestmem.ErrFault) {
		t.Fatalf("Protect over an unmapped page: %v", err)
	}
	if _, err := s.Load32(0x13000); !errors.Is(err, guestmem.ErrFault) {
		t.Fatal("a failed Protect changed a page")
	}
	if err := s.Unmap(0x10000, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load32(0x10000); !errors.Is(err, guestmem.ErrFault) {
		t.Fatalf("load after Unmap: %v", err)
	}
	if err := s.Map(0x11000, ps, guestmem.PermReadWrite); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Load32(0x11000); v != 0 {
		t.Fatalf("a page mapped again holds %#x, want zero", v)
	}
	for name, err := range map[string]error{
		"Map size 0":       s.Map(0x20000, 0, guestmem.PermRead),
		"Map wrapping":     s.Map(math.MaxUint64-10, 100, guestmem.PermRead),
		"Map bad perm":     s.Map(0x20000, 1, guestmem.Perm(9)),
		"Unmap size 0":     s.Unmap(0x20000, 0),
		"Protect bad perm": s.Protect(0x11000, 1, guestmem.Perm(9)),
	} {
		if !errors.Is(err, guestmem.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.WriteBytes(0x14ffe, []byte{1, 2, 3, 4}); !errors.Is(err, guestmem.ErrFault) {
		t.Errorf("WriteBytes into unmapped: %v", err)
	}
	if _, err := s.ReadBytes(0x13ffe, 4); !errors.Is(err, guestmem.ErrFault) {
		t.Errorf("ReadBytes from unmapped: %v", err)
	}
	// WriteBytes and ReadBytes ignore protection and are not logged.
	s.ClearWrites()
	if err := s.WriteBytes(0x12ffe, []byte{9, 9, 9, 9}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadBytes(0x12ffe, 4); err != nil || !slices.Equal(b, []byte{9, 9, 9, 9}) {
		t.Fatalf("ReadBytes across read-write and none = %v, %v", b, err)
	}
	if w := s.Writes(); len(w) != 0 {
		t.Fatalf("WriteBytes was logged: %v", w)
	}
	if guestmem.PermRead.String() != "read" || guestmem.Perm(7).String() != "Perm(7)" {
		t.Error("Perm.String")
	}
}

func TestSimulatedZeroValueAndDeterminism(t *testing.T) {
	var s guestmem.Simulated
	if _, err := s.Load32(0); !errors.Is(err, guestmem.ErrFault) {
		t.Fatalf("zero Simulated: %v", err)
	}
	run := func() []guestmem.Write {
		s := new(guestmem.Simulated)
		_ = s.Map(0, 4*ps, guestmem.PermReadWrite)
		for i := range uint64(100) {
			a := (i * 2654435761) % (4*ps - 8)
			_ = s.Store64(a, i)
			_, _ = s.CompareAndSwap32(a&^3, uint32(i), uint32(i+1))
		}
		return s.Writes()
	}
	if a, b := run(), run(); !slices.Equal(a, b) || len(a) < 100 {
		t.Fatal("two identical runs logged different writes")
	}
}

func TestSimulatedConcurrent(t *testing.T) {
	s := new(guestmem.Simulated)
	if err := s.Map(0x1000, ps, guestmem.PermReadWrite); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			own := uint64(0x1100 + 8*w)
			for i := range each {
				for {
					v, err := s.Load32(0x1000)
					if err != nil {
						t.Error(err)
						return
					}
					if prev, _ := s.CompareAndSwap32(0x1000, v, v+1); prev == v {
						break
					}
				}
				if err := s.Store64(own, uint64(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _ := s.Load32(0x1000); v != workers*each {
		t.Fatalf("counter = %d, want %d", v, workers*each)
	}
	if got := len(s.Writes()); got != 2*workers*each {
		t.Fatalf("%d writes logged, want %d", got, 2*workers*each)
	}
	b, _ := s.ReadBytes(0x1100, 8*workers)
	for w := range workers {
		if v := binary.LittleEndian.Uint64(b[8*w:]); v != each-1 {
			t.Errorf("worker %d's word = %d", w, v)
		}
	}
}
