package guestmem_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

func TestRecordingWaker(t *testing.T) {
	var w guestmem.RecordingWaker
	boom := errors.New("boom")
	w.AddWaiters(0x100, 2)
	w.FailOn(0x300, boom)
	steps := []struct {
		addr  uint64
		n     int
		woken int
		err   error
	}{
		{0x200, 1, 0, nil}, // nobody waits by default
		{0x100, 1, 1, nil},
		{0x100, 5, 1, nil},
		{0x100, 1, 0, nil},
		{0x300, 1, 0, boom},
		{0x100, -1, 0, guestmem.ErrInvalid},
	}
	var want []guestmem.WakeCall
	for i, st := range steps {
		n, err := w.Wake(st.addr, st.n)
		if n != st.woken || !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
			t.Fatalf("step %d: Wake(%#x, %d) = %d, %v; want %d, %v", i, st.addr, st.n, n, err, st.woken, st.err)
		}
		want = append(want, guestmem.WakeCall{Addr: st.addr, N: st.n, Woken: st.woken, Err: err})
	}
	if got := w.Calls(); !slices.Equal(got, want) {
		t.Fatalf("Calls() = %+v\nwant %+v", got, want)
	}
	if w.Waiters(0x100) != 0 {
		t.Fatal("waiters left at 0x100")
	}
	w.FailOn(0x300, nil)
	w.AddWaiters(0x300, 1)
	if n, err := w.Wake(0x300, 1); n != 1 || err != nil {
		t.Fatalf("after FailOn(nil): %d, %v", n, err)
	}
	w.Reset()
	if len(w.Calls()) != 0 || w.Waiters(0x300) != 0 {
		t.Fatal("Reset")
	}
}
