package abi_test

import (
	"testing"

	"github.com/fexrl/fexrl/abi"
)

func TestHeadLayout(t *testing.T) {
	tests := []struct {
		bits abi.Bits
		want abi.HeadLayout
	}{
		{abi.Bits32, abi.HeadLayout{Size: 12, Next: 0, FutexOffset: 4, ListOpPending: 8}},
		{abi.Bits64, abi.HeadLayout{Size: 24, Next: 0, FutexOffset: 8, ListOpPending: 16}},
	}
	for _, tt := range tests {
		if got := tt.bits.Head(); got != tt.want {
			t.Errorf("%v.Head() = %+v, want %+v", tt.bits, got, tt.want)
		}
		if got := tt.bits.PtrSize(); got != int(tt.bits)/8 {
			t.Errorf("%v.PtrSize() = %d", tt.bits, got)
		}
	}
}

func TestBitsValidAndString(t *testing.T) {
	tests := []struct {
		b     abi.Bits
		valid bool
		str   string
	}{
		{abi.Bits32, true, "32-bit"},
		{abi.Bits64, true, "64-bit"},
		{0, false, "Bits(0)"},
		{16, false, "Bits(16)"},
	}
	for _, tt := range tests {
		if tt.b.Valid() != tt.valid || tt.b.String() != tt.str {
			t.Errorf("Bits(%d): Valid=%v String=%q, want %v %q", uint8(tt.b), tt.b.Valid(), tt.b.String(), tt.valid, tt.str)
		}
	}
}

func TestSyscallName(t *testing.T) {
	s := abi.Syscalls{SetRobustList: 311, Fork: abi.NoSyscall, Vfork: abi.NoSyscall, Exit: 1}
	tests := []struct {
		nr   int
		want string
	}{
		{311, "set_robust_list"},
		{1, "exit"},
		{abi.NoSyscall, ""},
		{9999, ""},
	}
	for _, tt := range tests {
		if got := s.Name(tt.nr); got != tt.want {
			t.Errorf("Name(%d) = %q, want %q", tt.nr, got, tt.want)
		}
	}
}

func TestFutexConstants(t *testing.T) {
	// The three parts of a futex word must partition it.
	if abi.FutexWaiters|abi.FutexOwnerDied|abi.FutexTIDMask != 0xffffffff {
		t.Error("FUTEX_WAITERS|FUTEX_OWNER_DIED|FUTEX_TID_MASK does not cover the word")
	}
	if abi.FutexWaiters&abi.FutexOwnerDied != 0 || abi.FutexTIDMask&(abi.FutexWaiters|abi.FutexOwnerDied) != 0 {
		t.Error("futex word fields overlap")
	}
	for _, op := range []int{abi.FutexWake, abi.FutexWakeBitset, abi.FutexUnlockPI} {
		if got := (op | abi.FutexPrivateFlag | abi.FutexRobustUnlock | abi.FutexRobustList32 | abi.FutexClockRealtime) & abi.FutexCmdMask; got != op {
			t.Errorf("FutexCmdMask keeps %d of op %d", got, op)
		}
	}
}

func TestRobustListCmdString(t *testing.T) {
	for cmd, want := range map[abi.RobustListCmd]string{
		abi.RobustListCmdCreate64: "CREATE_64", abi.RobustListCmdCreate32: "CREATE_32",
		abi.RobustListCmdModify64: "MODIFY_64", abi.RobustListCmdModify32: "MODIFY_32",
		abi.RobustListCmdListLimit: "LIST_LIMIT", abi.RobustListSetNative: "SET_NATIVE",
		abi.RobustListSetCompat: "SET_COMPAT", abi.RobustListCmdUserMax: "UNKNOWN",
	} {
		if got := cmd.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint32(cmd), got, want)
		}
	}
}
