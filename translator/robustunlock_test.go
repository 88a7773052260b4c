package translator

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
)

func TestDecodeRobustUnlock(t *testing.T) {
	a64, a32 := x86_64.Arch(), x86_32.Arch()
	const uaddr, pop = 0x7f0000001000, 0x7f0000002010
	call := func(a abi.Arch, op uint32, val uint64, val3 uint64) Call {
		return Call{ABI: a, Nr: a.Syscalls.Futex, Args: [6]uint64{uaddr, uint64(op), val, 0, pop, val3}}
	}
	tests := []struct {
		name  string
		c     Call
		plain bool
		op    uint32
		errno unix.Errno
		want  RobustUnlock
	}{
		{"wake", call(a64, abi.FutexWake|abi.FutexRobustUnlock, 1, 0), false, 0, 0,
			RobustUnlock{Uaddr: uaddr, Cmd: abi.FutexWake, NrWake: 1, Bitset: abi.FutexBitsetMatchAny, Pop: pop}},
		{"wake private list32", call(a64, abi.FutexWake|abi.FutexRobustUnlock|abi.FutexPrivateFlag|abi.FutexRobustList32, 3, 0), false, 0, 0,
			RobustUnlock{Uaddr: uaddr, Cmd: abi.FutexWake, Private: true, NrWake: 3, Bitset: abi.FutexBitsetMatchAny, Pop: pop, Pop32: true}},
		{"nr_wake 0 means 1", call(a64, abi.FutexWake|abi.FutexRobustUnlock, 0, 0), false, 0, 0,
			RobustUnlock{Uaddr: uaddr, Cmd: abi.FutexWake, NrWake: 1, Bitset: abi.FutexBitsetMatchAny, Pop: pop}},
		{"wake bitset", call(a64, abi.FutexWakeBitset|abi.FutexRobustUnlock, 1, 0x5), false, 0, 0,
			RobustUnlock{Uaddr: uaddr, Cmd: abi.FutexWakeBitset, NrWake: 1, Bitset: 5, Pop: pop}},
		{"unlock pi", call(a64, abi.FutexUnlockPI|abi.FutexRobustUnlock, 0, 0), false, 0, 0,
			RobustUnlock{Uaddr: uaddr, Cmd: abi.FutexUnlockPI, Pop: pop}},
		{"32-bit guest: 32-bit slot and addresses", call(a32, abi.FutexWake|abi.FutexRobustUnlock, 1, 0), false, 0, 0,
			RobustUnlock{Uaddr: uaddr & 0xffffffff, Cmd: abi.FutexWake, NrWake: 1, Bitset: abi.FutexBitsetMatchAny, Pop: pop & 0xffffffff, Pop32: true}},
		{"bitset 0", call(a64, abi.FutexWakeBitset|abi.FutexRobustUnlock, 1, 0), false, 0, unix.EINVAL, RobustUnlock{}},
		{"negative nr_wake", call(a64, abi.FutexWake|abi.FutexRobustUnlock, 0xffffffff, 0), false, 0, unix.EINVAL, RobustUnlock{}},
		{"with FUTEX_WAIT", call(a64, abi.FutexWait|abi.FutexRobustUnlock, 1, 0), false, 0, unix.ENOSYS, RobustUnlock{}},
		{"with FUTEX_LOCK_PI", call(a64, abi.FutexLockPI|abi.FutexRobustUnlock, 1, 0), false, 0, unix.ENOSYS, RobustUnlock{}},
		{"with CLOCK_REALTIME", call(a64, abi.FutexWake|abi.FutexRobustUnlock|abi.FutexClockRealtime, 1, 0), false, 0, unix.ENOSYS, RobustUnlock{}},
		{"LIST32 alone is a plain call", call(a64, abi.FutexWake|abi.FutexRobustList32|abi.FutexPrivateFlag, 1, 0), true,
			abi.FutexWake | abi.FutexPrivateFlag, 0, RobustUnlock{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ru, plain, op, errno := DecodeRobustUnlock(tt.c)
			if plain != tt.plain || errno != tt.errno || ru != tt.want || (tt.plain && op != tt.op) {
				t.Fatalf("got %+v plain %v op %#x errno %v; want %+v %v %#x %v", ru, plain, op, errno, tt.want, tt.plain, tt.op, tt.errno)
			}
		})
	}
	if IsRobustUnlockOp(abi.FutexWake | abi.FutexPrivateFlag) {
		t.Error("a plain wake is a robust unlock")
	}
	if !IsRobustUnlockOp(abi.FutexRobustList32) || !IsRobustUnlockOp(abi.FutexRobustUnlock) {
		t.Error("robust flags not recognised")
	}
}

// opsLog records the primitives a robust unlock performs, in order.
type opsLog struct {
	calls    []string
	storeErr error
	wakeErr  error
	woken    int
	piRet    int64
	clearErr error
}

func (o *opsLog) StoreRelease32(addr uint64, v uint32) error {
	o.calls = append(o.calls, fmt.Sprintf("store %#x=%d", addr, v))
	return o.storeErr
}
func (o *opsLog) Wake(addr uint64, n int, bitset uint32, private bool) (int, error) {
	o.calls = append(o.calls, fmt.Sprintf("wake %#x n=%d bitset=%#x private=%v", addr, n, bitset, private))
	return o.woken, o.wakeErr
}
func (o *opsLog) UnlockPI(addr uint64, private bool) int64 {
	o.calls = append(o.calls, fmt.Sprintf("unlock_pi %#x", addr))
	return o.piRet
}
func (o *opsLog) ClearPending(pop uint64, pop32 bool) error {
	o.calls = append(o.calls, fmt.Sprintf("clear %#x 32=%v", pop, pop32))
	return o.clearErr
}

func TestRobustUnlockPerform(t *testing.T) {
	wake := RobustUnlock{Uaddr: 0x1000, Cmd: abi.FutexWake, NrWake: 1, Bitset: abi.FutexBitsetMatchAny, Pop: 0x2000}
	pi := RobustUnlock{Uaddr: 0x1000, Cmd: abi.FutexUnlockPI, Pop: 0x2000, Pop32: true}
	tests := []struct {
		name  string
		ru    RobustUnlock
		ops   opsLog
		want  Result
		calls string
	}{
		{"wake: release, wake, clear", wake, opsLog{woken: 1}, 1,
			"store 0x1000=0|wake 0x1000 n=1 bitset=0xffffffff private=false|clear 0x2000 32=false"},
		{"word faults", wake, opsLog{storeErr: errors.New("fault")}, Result(-int64(unix.EFAULT)), "store 0x1000=0"},
		{"slot faults after the wake", wake, opsLog{woken: 2, clearErr: errors.New("fault")}, Result(-int64(unix.EFAULT)),
			"store 0x1000=0|wake 0x1000 n=1 bitset=0xffffffff private=false|clear 0x2000 32=false"},
		{"wake error passes through", wake, opsLog{wakeErr: unix.EINVAL}, Result(-int64(unix.EINVAL)),
			"store 0x1000=0|wake 0x1000 n=1 bitset=0xffffffff private=false"},
		{"misaligned word", RobustUnlock{Uaddr: 0x1002, Cmd: abi.FutexWake, NrWake: 1, Bitset: 1}, opsLog{}, Result(-int64(unix.EINVAL)), ""},
		{"unlock pi, then clear", pi, opsLog{}, 0, "unlock_pi 0x1000|clear 0x2000 32=true"},
		{"unlock pi fails: slot untouched", pi, opsLog{piRet: -int64(unix.EPERM)}, Result(-int64(unix.EPERM)), "unlock_pi 0x1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := tt.ops
			got := tt.ru.Perform(&ops)
			if got != tt.want || strings.Join(ops.calls, "|") != tt.calls {
				t.Fatalf("got %d, calls %q; want %d, %q", got, strings.Join(ops.calls, "|"), tt.want, tt.calls)
			}
		})
	}
}

func TestHostOp(t *testing.T) {
	a64, a32 := x86_64.Arch(), x86_32.Arch()
	tests := []struct {
		abi  abi.Arch
		op   uint32
		want uint32
	}{
		{a64, abi.FutexWake | abi.FutexRobustUnlock, abi.FutexWake | abi.FutexRobustUnlock},
		{a32, abi.FutexWake | abi.FutexRobustUnlock, abi.FutexWake | abi.FutexRobustUnlock | abi.FutexRobustList32},
		{a32, abi.FutexUnlockPI | abi.FutexRobustUnlock | abi.FutexRobustList32, abi.FutexUnlockPI | abi.FutexRobustUnlock | abi.FutexRobustList32},
		{a32, abi.FutexWake | abi.FutexRobustList32, abi.FutexWake | abi.FutexRobustList32},
		{a64, abi.FutexWake, abi.FutexWake},
	}
	for _, tt := range tests {
		if got := HostOp(Call{ABI: tt.abi, Args: [6]uint64{0, uint64(tt.op)}}); got != tt.want {
			t.Errorf("%s op %#x: got %#x, want %#x", tt.abi.Name, tt.op, got, tt.want)
		}
	}
}
