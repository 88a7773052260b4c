package robustlist2_test

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

// TestHostLegacyBackendForReal registers a 64-bit list through the
// HostPlacer on a real thread, lets that thread die, and checks who
// marked the word: the host kernel when the placer gave the list to the
// host's set_robust_list (x86-64 here), else fexrl's own walk (arm64
// under qemu-user, which answers ENOSYS).
func TestHostLegacyBackendForReal(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the host's set_robust_list takes only lists of its own width; a 386 host takes 32-bit lists, which this test does not build")
	}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	head, node, word := base, base+64, base+128
	put := func(addr, v uint64) { binary.LittleEndian.PutUint64(mem[addr-base:], v) }
	word32 := (*uint32)(unsafe.Pointer(&mem[word-base]))

	var caps robustlist2.HostCaps
	var backend robustlist2.Backend
	var tid int32
	reg := (*robustlist2.Registry)(nil)
	onDyingThread(func() {
		caps = robustlist2.ProbeHost(nil)
		p := &robustlist2.HostPlacer{Caps: caps, Identity: true, EmulatorUsesLegacy: caps.LegacyInUse}
		reg = robustlist2.NewRegistry(robustlist2.Config{Placer: p})
		tid = int32(unix.Gettid())
		put(head, node)                // head.next
		put(head+8, uint64(word-node)) // futex_offset
		put(head+16, 0)                // list_op_pending
		put(node, head)                // node.next
		atomic.StoreUint32(word32, uint32(tid))
		task, _ := reg.Add(tid, tid)
		if err := reg.SetRobustList(task, abi.Bits64, head, 24); err != nil {
			t.Error(err)
			return
		}
		backend = task.Slots()[robustlist2.SlotNative].Backend
	})
	switch backend {
	case robustlist2.BackendHostLegacy:
		// The host kernel walks the list when the thread exits.
		deadline := time.Now().Add(10 * time.Second)
		for atomic.LoadUint32(word32) != abi.FutexOwnerDied {
			if time.Now().After(deadline) {
				t.Fatalf("the host kernel did not mark the word: %#x (caps %+v)", atomic.LoadUint32(word32), caps)
			}
			time.Sleep(time.Millisecond)
		}
		walks, _ := reg.Exit(tid, newSimMem(), &recWaker{}, robustlist2.Death{})
		if len(walks) != 1 || walks[0].Report != nil {
			t.Fatalf("fexrl walked a host-walked list: %+v", walks)
		}
	case robustlist2.BackendWalk:
		if caps.Legacy && !caps.LegacyInUse {
			t.Fatalf("host has a free set_robust_list slot but the placer did not use it: %+v", caps)
		}
		t.Logf("host caps %+v: fexrl walks the list", caps)
	default:
		t.Fatalf("backend %v", backend)
	}
}

// onDyingThread runs f on an OS thread of its own that ends when f
// returns (a goroutine that exits while locked takes its thread with it),
// and waits for f. The runtime's main thread is never ended that way, so
// if the goroutine lands there it keeps it and tries again elsewhere.
func onDyingThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			onDyingThread(f)
			runtime.UnlockOSThread()
			close(done)
			return
		}
		defer close(done)
		f()
	}()
	<-done
}
