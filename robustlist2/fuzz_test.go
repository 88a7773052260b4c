package robustlist2_test

import (
	"encoding/binary"
	"testing"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// FuzzWalk walks lists made of random memory: a 64 KiB guest region whose
// bytes are the fuzzer's, with the head at its start. Whatever the graph,
// the walk must end, must not panic, and must write only 32-bit words of
// the guest region, each one from the dying task's TID to FUTEX_OWNER_DIED
// (keeping FUTEX_WAITERS).
func FuzzWalk(f *testing.F) {
	seed := make([]byte, 64)
	binary.LittleEndian.PutUint64(seed[0:], 0x10040)
	binary.LittleEndian.PutUint64(seed[8:], ^uint64(7))
	f.Add(seed, true, uint32(tid), false)
	f.Add([]byte{0x40, 0, 1, 0, 0xf8, 0xff, 0xff, 0xff, 0, 0, 0, 0}, false, uint32(tid), true)
	f.Add([]byte{}, false, uint32(1), false)
	f.Fuzz(func(t *testing.T, data []byte, is64 bool, owner uint32, unbounded bool) {
		const base, size = 0x10000, 0x10000
		var mem guestmem.Simulated
		if err := mem.Map(base, size, guestmem.PermReadWrite); err != nil {
			t.Fatal(err)
		}
		if len(data) > size {
			data = data[:size]
		}
		if err := mem.WriteBytes(base, data); err != nil {
			t.Fatal(err)
		}
		// Sprinkle the owner's TID so that words get marked.
		for a := uint64(base) + uint64(len(data)); a+4 <= base+size && a < base+uint64(len(data))+256; a += 4 {
			_ = mem.Store32(a, owner)
		}
		mem.ClearWrites()
		bits := abi.Bits32
		if is64 {
			bits = abi.Bits64
		}
		var w robustlist2.Walker
		var waker guestmem.RecordingWaker
		opts := robustlist2.WalkOptions{Unbounded: unbounded, MaxEntries: 100000}
		r := w.Walk(&mem, &waker, base, bits, owner&abi.FutexTIDMask, opts)
		if r.Visited > 100000 {
			t.Fatalf("visited %d entries", r.Visited)
		}
		if !unbounded && r.Visited > abi.RobustListLimit {
			t.Fatalf("visited %d entries past the kernel's limit", r.Visited)
		}
		for _, wr := range mem.Writes() {
			if wr.Addr < base || wr.Addr+uint64(wr.Size) > base+size {
				t.Fatalf("write outside the guest: %+v", wr)
			}
			if wr.Size != 4 || wr.Addr%4 != 0 {
				t.Fatalf("not an aligned 32-bit word: %+v", wr)
			}
			if uint32(wr.Old)&abi.FutexTIDMask != owner&abi.FutexTIDMask ||
				uint32(wr.New) != uint32(wr.Old)&abi.FutexWaiters|abi.FutexOwnerDied {
				t.Fatalf("wrong write %+v for owner %#x", wr, owner)
			}
		}
		if r.Marked != len(mem.Writes()) {
			t.Fatalf("report says %d marked, memory saw %d writes", r.Marked, len(mem.Writes()))
		}
	})
}
