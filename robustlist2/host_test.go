package robustlist2_test

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

// fakeHost plays a host kernel for the placer's decisions: which syscalls
// exist, and what was registered.
type fakeHost struct {
	robust2, legacy bool
	robustUnlock    bool
	calls           []string
	nextIndex       uintptr
}

func (h *fakeHost) sys(nr, a1, a2, a3, a4, a5 uintptr) (uintptr, unix.Errno) {
	switch nr {
	case unix.SYS_FUTEX:
		if !h.robustUnlock || a2&abi.FutexRobustUnlock == 0 || a5 == 0 {
			return 0, unix.ENOSYS
		}
		return 0, 0
	case abi.SysSetRobustList2:
		if !h.robust2 {
			return 0, unix.ENOSYS
		}
		cmd := abi.RobustListCmd(a2)
		h.calls = append(h.calls, "set_robust_list2 "+cmd.String())
		if cmd == abi.RobustListCmdListLimit {
			return 8, 0
		}
		if cmd == abi.RobustListCmdCreate32 || cmd == abi.RobustListCmdCreate64 {
			h.nextIndex++
			return h.nextIndex - 1, 0
		}
		return a3, 0
	case unix.SYS_SET_ROBUST_LIST, unix.SYS_GET_ROBUST_LIST:
		if !h.legacy {
			return 0, unix.ENOSYS
		}
		if nr == unix.SYS_SET_ROBUST_LIST {
			if a1 == 0 {
				h.calls = append(h.calls, "set_robust_list NULL")
			} else {
				h.calls = append(h.calls, "set_robust_list")
			}
		}
		return 0, 0
	}
	return 0, unix.ENOSYS
}

func TestProbeHost(t *testing.T) {
	tests := []struct {
		robust2, legacy, robustUnlock bool
	}{{true, true, true}, {false, true, false}, {false, false, false}, {false, true, true}}
	for _, tt := range tests {
		h := &fakeHost{robust2: tt.robust2, legacy: tt.legacy, robustUnlock: tt.robustUnlock}
		caps := robustlist2.ProbeHost(h.sys)
		if caps.RobustList2 != tt.robust2 || caps.Legacy != tt.legacy || caps.RobustUnlock != tt.robustUnlock {
			t.Errorf("%+v: probe says %+v", tt, caps)
		}
		if tt.robust2 && caps.RobustList2Limit != 8 {
			t.Errorf("limit %d", caps.RobustList2Limit)
		}
	}
}

func TestHostPlacer(t *testing.T) {
	// The host's set_robust_list takes lists of the host's own width.
	hostBits, otherBits := abi.Bits64, abi.Bits32
	if unsafe.Sizeof(uintptr(0)) == 4 {
		hostBits, otherBits = abi.Bits32, abi.Bits64
	}
	tests := []struct {
		name       string
		host       fakeHost
		identity   bool
		emuLegacy  bool
		bits       abi.Bits
		want       robustlist2.Backend
		wantCalls  []string
		secondList robustlist2.Backend
	}{
		{"robust2 host takes a 32-bit list", fakeHost{robust2: true, legacy: true}, true, true, abi.Bits32,
			robustlist2.BackendHostRobustList2, []string{"set_robust_list2 CREATE_32"}, robustlist2.BackendHostRobustList2},
		{"robust2 host takes a 64-bit list", fakeHost{robust2: true}, true, true, abi.Bits64,
			robustlist2.BackendHostRobustList2, []string{"set_robust_list2 CREATE_64"}, robustlist2.BackendHostRobustList2},
		{"legacy host, list of the host's width, free slot", fakeHost{legacy: true}, true, false, hostBits,
			robustlist2.BackendHostLegacy, []string{"set_robust_list"}, robustlist2.BackendWalk},
		{"legacy host, slot used by the emulator", fakeHost{legacy: true}, true, true, hostBits,
			robustlist2.BackendWalk, nil, robustlist2.BackendWalk},
		{"legacy host, list of the other width", fakeHost{legacy: true}, true, false, otherBits,
			robustlist2.BackendWalk, nil, robustlist2.BackendWalk},
		{"no host support", fakeHost{}, true, false, abi.Bits64,
			robustlist2.BackendWalk, nil, robustlist2.BackendWalk},
		{"guest addresses are not host addresses", fakeHost{robust2: true, legacy: true}, false, false, abi.Bits64,
			robustlist2.BackendWalk, nil, robustlist2.BackendWalk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			p := &robustlist2.HostPlacer{Caps: robustlist2.ProbeHost(h.sys), Identity: tt.identity, EmulatorUsesLegacy: tt.emuLegacy, Syscall: h.sys}
			h.calls = nil
			reg := robustlist2.NewRegistry(robustlist2.Config{Placer: p})
			task, _ := reg.Add(1, 1)
			cmd := uint32(abi.RobustListCmdCreate64)
			if tt.bits == abi.Bits32 {
				cmd = uint32(abi.RobustListCmdCreate32)
			}
			if _, err := reg.SetRobustList2(task, abi.Bits64, 0x1000, cmd, 0, 0); err != nil {
				t.Fatal(err)
			}
			if got := task.Slots()[robustlist2.SlotRobust2].Backend; got != tt.want {
				t.Errorf("backend %v, want %v", got, tt.want)
			}
			if len(h.calls) != len(tt.wantCalls) {
				t.Fatalf("host calls %q, want %q", h.calls, tt.wantCalls)
			}
			for i := range h.calls {
				if h.calls[i] != tt.wantCalls[i] {
					t.Errorf("host calls %q, want %q", h.calls, tt.wantCalls)
				}
			}
			// A second list: the legacy slot holds one list only.
			if _, err := reg.SetRobustList2(task, abi.Bits64, 0x2000, cmd, 0, 0); err != nil {
				t.Fatal(err)
			}
			if got := task.Slots()[robustlist2.SlotRobust2+1].Backend; got != tt.secondList {
				t.Errorf("second list backend %v, want %v", got, tt.secondList)
			}
			// Clearing a host-registered list takes it off the host.
			h.calls = nil
			if _, err := reg.SetRobustList2(task, abi.Bits64, 0, cmd+2, 0, 0); err != nil {
				t.Fatal(err)
			}
			if tt.want != robustlist2.BackendWalk && len(h.calls) != 1 {
				t.Errorf("clearing made host calls %q", h.calls)
			}
			// Host-walked lists are not walked by fexrl at exit.
			walks, _ := reg.Exit(1, newSimMem(), &recWaker{}, robustlist2.Death{})
			for _, w := range walks {
				if (w.Report == nil) != (w.Slot.Backend != robustlist2.BackendWalk) {
					t.Errorf("walk %+v", w)
				}
			}
		})
	}
}
