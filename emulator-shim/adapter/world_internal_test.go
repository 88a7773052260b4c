//go:build linux && amd64

package adapter

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
)

// regs64 and regs32 are the registers of a task stopped in a futex call
// (nr) with op and result ret.
func regs64(nr int, op uint64, ret int64) unix.PtraceRegs {
	return unix.PtraceRegs{Cs: 0x33, Orig_rax: uint64(nr), Rax: uint64(ret), Rdi: 0x7f0000001000, Rsi: op, Rdx: 5, R9: 0x4}
}

func regs32(nr int, op uint64, ret int64) unix.PtraceRegs {
	return unix.PtraceRegs{Cs: user32CS, Orig_rax: uint64(int64(nr)), Rax: uint64(uint32(int32(ret))), Rbx: 0x8000100, Rcx: op, Rdx: 5, Rbp: 0x2}
}

func TestFutexWaitOf(t *testing.T) {
	a32, a64 := x86_32.Arch(), x86_64.Arch()
	tests := []struct {
		name string
		regs unix.PtraceRegs
		ok   bool
		want interruptedWait
	}{
		{"x86_64 FUTEX_WAIT, no timeout", regs64(a64.Syscalls.Futex, abi.FutexWait, -errRestartSys), true,
			interruptedWait{addr: 0x7f0000001000, val: 5, bitset: abi.FutexBitsetMatchAny}},
		{"x86_64 FUTEX_WAIT, timeout", regs64(a64.Syscalls.Futex, abi.FutexWait, -errRestartRestartBlock), true,
			interruptedWait{addr: 0x7f0000001000, val: 5, bitset: abi.FutexBitsetMatchAny}},
		{"x86_64 private FUTEX_WAIT_BITSET", regs64(a64.Syscalls.Futex, abi.FutexWaitBitset|abi.FutexPrivateFlag, -errRestartNoHand), true,
			interruptedWait{addr: 0x7f0000001000, val: 5, bitset: 0x4, private: true}},
		{"i386 futex", regs32(a32.Syscalls.Futex, abi.FutexWait, -errRestartSys), true,
			interruptedWait{addr: 0x8000100, val: 5, bitset: abi.FutexBitsetMatchAny}},
		{"i386 futex_time64 FUTEX_WAIT_BITSET", regs32(a32.Syscalls.FutexTime64, abi.FutexWaitBitset, -errRestartRestartBlock), true,
			interruptedWait{addr: 0x8000100, val: 5, bitset: 0x2}},
		{"woken already (result 0)", regs64(a64.Syscalls.Futex, abi.FutexWait, 0), false, interruptedWait{}},
		{"EAGAIN", regs64(a64.Syscalls.Futex, abi.FutexWait, -int64(unix.EAGAIN)), false, interruptedWait{}},
		{"FUTEX_LOCK_PI is no wait", regs64(a64.Syscalls.Futex, abi.FutexLockPI, -errRestartSys), false, interruptedWait{}},
		{"another syscall", regs64(unix.SYS_READ, abi.FutexWait, -errRestartSys), false, interruptedWait{}},
		{"i386 number from 64-bit code", regs64(a32.Syscalls.Futex, abi.FutexWait, -errRestartSys), false, interruptedWait{}},
		{"futex_time64 is not x86-64's", regs64(a32.Syscalls.FutexTime64, abi.FutexWait, -errRestartSys), false, interruptedWait{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := futexWaitOf(&tc.regs, a32, a64)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got.regs != tc.regs {
				t.Errorf("registers not kept")
			}
			got.regs = unix.PtraceRegs{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTakeWaiters(t *testing.T) {
	const word, other = 0x1000, 0x2000
	shared := func() *interruptedWait { return &interruptedWait{addr: word, bitset: abi.FutexBitsetMatchAny} }
	tests := []struct {
		name      string
		waits     []*interruptedWait
		addr      uint64
		n         int
		want      int
		wantWoken []bool
	}{
		{"one of two", []*interruptedWait{shared(), shared()}, word, 1, 1, []bool{true, false}},
		{"all", []*interruptedWait{shared(), shared()}, word, 8, 2, []bool{true, true}},
		{"none asked", []*interruptedWait{shared()}, word, 0, 0, []bool{false}},
		{"another word", []*interruptedWait{shared()}, other, 1, 0, []bool{false}},
		{"a private wait is keyed apart", []*interruptedWait{{addr: word, bitset: abi.FutexBitsetMatchAny, private: true}, shared()}, word, 1, 1, []bool{false, true}},
		{"an empty bitset matches nothing", []*interruptedWait{{addr: word}}, word, 1, 0, []bool{false}},
		{"taken once", []*interruptedWait{{addr: word, bitset: 1, woken: true}}, word, 1, 0, []bool{true}},
		{"a task not in a wait", []*interruptedWait{nil, shared()}, word, 1, 1, []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := &walkContext{}
			for i, w := range tc.waits {
				wc.stopped = append(wc.stopped, &task{tid: int32(i + 1), wait: w})
			}
			if got := takeWaiters(wc, tc.addr, tc.n); got != tc.want {
				t.Errorf("took %d, want %d", got, tc.want)
			}
			for i, w := range tc.waits {
				if woken := w != nil && w.woken; woken != tc.wantWoken[i] {
					t.Errorf("waiter %d woken = %v, want %v", i, woken, tc.wantWoken[i])
				}
			}
		})
	}
}

// TestWaitCalls: the wait syscalls trapped with WNOHANG are the ones the
// seccomp stop recognises, and no other.
func TestWaitCalls(t *testing.T) {
	for _, a := range []abi.Arch{x86_32.Arch(), x86_64.Arch()} {
		trapped := map[int]bool{}
		for _, c := range waitCalls(a) {
			trapped[c.nr] = true
			if !isWaitCall(a, c.nr) {
				t.Errorf("%s: %d trapped but not recognised", a.Name, c.nr)
			}
		}
		for _, n := range a.Syscalls.Named() {
			if n.Nr != abi.NoSyscall && !trapped[n.Nr] && isWaitCall(a, n.Nr) {
				t.Errorf("%s: %s taken for a wait", a.Name, n.Name)
			}
		}
		if isWaitCall(a, abi.NoSyscall) {
			t.Errorf("%s: NoSyscall taken for a wait", a.Name)
		}
	}
	if n := len(waitCalls(x86_32.Arch())); n != 3 {
		t.Errorf("i386 has %d wait calls, want 3 (waitpid, wait4, waitid)", n)
	}
	if n := len(waitCalls(x86_64.Arch())); n != 2 {
		t.Errorf("x86-64 has %d wait calls, want 2 (wait4, waitid)", n)
	}
}
