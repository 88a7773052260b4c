package trace

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// build writes a trace of events with header config cfg.
func build(t testing.TB, cfg Config, events ...Event) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteHeader(Header{ABIs: []string{ABIx86_32, ABIx86_64}, Host: Host{OS: "linux", Arch: "amd64"}, Source: "test", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if err := w.WriteEvent(&events[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// replayText replays a trace and returns the text output with --check.
func replayText(t testing.TB, tr []byte) (string, *End) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(tr))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	end, err := Replay(rd, NewTextSink(&out, true), ReplayOptions{}, nil)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, tr)
	}
	return out.String(), end
}

const (
	tid     = 100
	head64  = 0x10000
	node64  = 0x20020
	word64  = 0x20000
	head32  = 0x30000
	node32  = 0x40014
	word32  = 0x40000
	waiters = 0x80000000
	died    = 0x40000000
)

func task(tid, tgid, parent int32) Event {
	return Event{Kind: KindTask, TID: tid, TGID: tgid, Parent: parent}
}

func sys(tid int32, abiName string, nr int32, ret int64, args ...uint64) Event {
	e := Event{Kind: KindSyscall, TID: tid, ABI: abiName, Nr: nr, Ret: ret, HasRet: true, Handled: true}
	copy(e.Args[:], args)
	return e
}

// list64 is the memory of a 64-bit list with one entry whose word holds v.
func list64(v uint32) []MemWord {
	return []MemWord{
		{Addr: head64, Size: 8, Value: node64}, {Addr: head64 + 8, Size: 8, Value: 1<<64 - 0x20}, {Addr: head64 + 16, Size: 8, Value: 0},
		{Addr: node64, Size: 8, Value: head64}, {Addr: word64, Size: 4, Value: uint64(v)},
	}
}

// list32 is the memory of a 32-bit list with one entry whose word holds v.
func list32(v uint32) []MemWord {
	return []MemWord{
		{Addr: head32, Size: 4, Value: node32}, {Addr: head32 + 4, Size: 4, Value: 0xffffffec}, {Addr: head32 + 8, Size: 4, Value: 0},
		{Addr: node32, Size: 4, Value: head32}, {Addr: word32, Size: 4, Value: uint64(v)},
	}
}

func walk64(stop robustlist2.StopReason, entries ...robustlist2.Entry) robustlist2.ListWalk {
	r := &robustlist2.Report{FutexOffset: -0x20, Stop: stop, Visited: len(entries), Entries: entries}
	for _, e := range entries {
		if e.Action == robustlist2.ActionMarked {
			r.Marked++
		}
		r.Woken += max(e.Woken, 0)
	}
	return robustlist2.ListWalk{Index: robustlist2.SlotNative, Slot: robustlist2.Slot{Head: head64, Bits: 64}, Report: r}
}

func exit(tid int32, mem []MemWord, walks ...robustlist2.ListWalk) Event {
	return Event{Kind: KindExit, TID: tid, TGID: tid, Cause: shim.CauseExit, HasMemory: true, Memory: mem, HasWalks: true, Walks: walks}
}

func TestReplay(t *testing.T) {
	marked := robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionMarked, Old: waiters | tid, New: waiters | died, Wakes: 1, Woken: 1}
	withWaiter := func(e Event) Event { e.Waiters = []Waiter{{Addr: word64, N: 1}}; return e }
	roWord := list64(tid)
	roWord[4].RO = true
	getArgs := []uint64{0, 0x50000, 0x50008}
	tests := []struct {
		name   string
		cfg    Config
		events []Event
		want   []string // substrings of the text output, in order
		diffs  int64
	}{
		{
			name: "owner dies, word marked, waiter woken",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 24),
				withWaiter(exit(tid, list64(waiters|tid), walk64(robustlist2.StopEnd, marked)))},
			want: []string{"set_robust_list(0x10000, 24) = 0", "lists: native (index 0) 64-bit head 0x10000",
				"exit (exit), tgid 100: 1 list(s)", "stop end, 1 visited, 1 marked, 1 woken",
				"entry   node 0x20020 word 0x20000: owner-died 0x80000064 -> 0xc0000000, wake: 1 woken",
				"wrote 1 word(s), 1 wake(s)", "check: replay matches"},
		},
		{
			name: "recorded walk differs",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 24),
				exit(tid, list64(tid), walk64(robustlist2.StopNextFault, robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionNotOwner, Old: tid, New: tid}))},
			want: []string{"DIFF: list native: stop recorded next-fault, replay end", "DIFF: list native: marked recorded 0, replay 1",
				"DIFF: list native entry 0 (word 0x20000): action recorded not-owner, replay owner-died",
				"DIFF: list native entry 0 (word 0x20000): recorded 0x00000064 -> 0x00000064, replay 0x00000064 -> 0x40000000"},
			diffs: 4,
		},
		{
			name:   "answer differs",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 12)},
			want:   []string{"set_robust_list(0x10000, 12) = -22 (EINVAL)", "DIFF: answer: recorded 0, replay -22 (EINVAL)"},
			diffs:  1,
		},
		{
			name:   "qemu answered ENOSYS, fexrl answers",
			events: []Event{task(tid, tid, 0), {Kind: KindSyscall, TID: tid, ABI: ABIx86_32, Nr: 311, Args: [6]uint64{head32, 12}, Ret: -38, HasRet: true, SrcLine: 9}},
			want:   []string{"i386 set_robust_list(0x30000, 12) = 0  [log line 9]", "lists: compat (index 1) 32-bit head 0x30000", "DIFF: answer: recorded -38 (ENOSYS), replay 0"},
			diffs:  1,
		},
		{
			name: "get_robust_list stores the head and its size",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 24),
				sys(tid, ABIx86_64, 274, 0, getArgs...)},
			want: []string{"get_robust_list(0, 0x50000, 0x50008) = 0", "stored 24 at 0x50008 (8 bytes)", "stored 0x10000 at 0x50000 (8 bytes)"},
		},
		{
			name:   "get_robust_list that faulted faults again",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 274, -int64(unix.EFAULT), getArgs...)},
			want:   []string{"get_robust_list(0, 0x50000, 0x50008) = -14 (EFAULT)", "check: replay matches"},
		},
		{
			name:   "get_robust_list of an unknown task",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 274, -int64(unix.ESRCH), 4242, 0x50000, 0x50008)},
			want:   []string{"= -3 (ESRCH)", "check: replay matches"},
		},
		{
			name:   "set_robust_list2 without the proposal",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 473, -38, head32, 1)},
			want:   []string{"set_robust_list2(0x30000, 1, 0, 0) = -38 (ENOSYS)"},
		},
		{
			name:   "set_robust_list2 with the proposal",
			cfg:    Config{RobustList2: true},
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 473, 0, head32, 1), sys(tid, ABIx86_64, 473, 8, 0, 4)},
			want:   []string{"= 0", "lists: robust2[0] (index 2) 32-bit head 0x30000", "set_robust_list2(0, 4, 0, 0) = 8"},
		},
		{
			name:   "exit of a task replay does not know",
			events: []Event{exit(77, list64(77), walk64(robustlist2.StopEnd, robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionMarked, Old: 77, New: died}))},
			want:   []string{"tid 77: exit (exit), tgid 77: task unknown to replay: 0 list(s)", "DIFF: walks: recorded 1 list(s), replay 0"},
			diffs:  1,
		},
		{
			name: "exit without memory",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_32, 311, 0, head32, 12),
				{Kind: KindExit, TID: tid, Cause: shim.CauseSignal}},
			want: []string{"exit (signal): no memory recorded, lists not walked", "lists: compat (index 1) 32-bit head 0x30000", "alive at the end: 0 task(s)"},
		},
		{
			name: "a read-only word faults",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 24),
				exit(tid, roWord, walk64(robustlist2.StopWordFault, robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionFault, Old: tid, New: tid}))},
			want: []string{"stop word-fault", "word 0x20000: fault 0x00000064 -> 0x00000064", "check: replay matches"},
		},
		{
			name: "memory not recorded is a fault",
			events: []Event{task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head64, 24),
				exit(tid, list64(tid)[:3], walk64(robustlist2.StopWordFault, robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionFault}))},
			want: []string{"stop word-fault", "check: replay matches"},
		},
		{
			name: "32-bit list, clone, exec by a thread",
			events: []Event{task(tid, tid, 0), task(tid+1, tid, tid), sys(tid+1, ABIx86_32, 311, 0, head32, 12),
				{Kind: KindExec, TID: tid, TGID: tid, Former: tid + 1, HasMemory: true, Memory: list32(tid + 1), HasWalks: true,
					Walks: []robustlist2.ListWalk{{Index: robustlist2.SlotCompat, Slot: robustlist2.Slot{Head: head32, Bits: 32},
						Report: &robustlist2.Report{FutexOffset: -20, Stop: robustlist2.StopEnd, Visited: 1, Marked: 1,
							Entries: []robustlist2.Entry{{Node: node32, Word: word32, Action: robustlist2.ActionMarked, Old: tid + 1, New: died}}}}}},
				sys(tid, ABIx86_32, 311, 0, head32, 12)},
			want: []string{"tid 101: created by tid 100, tgid 100", "tid 100: exec by tid 101, tgid 100: 1 list(s)",
				"list compat (index 1) 32-bit head 0x30000, futex_offset -20", "owner-died 0x00000065 -> 0x40000000",
				"alive at the end: 1 task(s)", "tid 100 (tgid 100) lists: compat", "check: replay matches"},
		},
		{
			name:   "syscall sites",
			events: []Event{withCode(sys(tid, ABIx86_64, 273, 0, head64, 24), "0f05"), withCode(sys(tid, ABIx86_32, 311, 0, head32, 12), "cd80"), withCode(sys(tid, ABIx86_64, 273, 0, head64, 24), "cd80"), withCode(sys(tid, ABIx86_64, 273, 0, head64, 24), "90")},
			want: []string{"site: syscall (syscall, 64-bit code, x86_64)", "site: int $0x80 (int80, 32-bit code, x86_32)",
				`DIFF: the site "int $0x80" makes x86_32 syscalls, the event says x86_64`, "site: not a syscall site", "DIFF: the recorded code 90 is not a syscall instruction"},
			diffs: 2,
		},
		{
			name: "robust unlock and plain futex",
			events: []Event{sys(tid, ABIx86_64, 202, 1, word64, 1|512, 1, 0, head64+16, 0),
				sys(tid, ABIx86_64, 202, -38, word64, 1|512|256, 1, 0, head64+16, 0),
				{Kind: KindSyscall, TID: tid, ABI: ABIx86_64, Nr: 202, Args: [6]uint64{word64, 0x80, 2}}},
			want: []string{"futex(0x20000, 513, 1, 0, 0x10010, 0) = 1 (robust unlock performed by fexrl", "unlock: release word 0x20000, wake up to 1, clear pending slot 0x10010",
				"futex(0x20000, 769, 1, 0, 0x10010, 0) = -38 (ENOSYS)", "futex(0x20000, 128, 2, 0, 0, 0): passed to the emulator"},
		},
		{
			name:   "answered by fexrl when recorded, not in replay",
			events: []Event{sys(tid, ABIx86_64, 1, 0, 1)},
			want:   []string{"DIFF: recorded as answered by fexrl, but replay leaves it to the emulator"},
			diffs:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, end := replayText(t, build(t, tt.cfg, tt.events...))
			containsInOrder(t, out, tt.want)
			if end.Diffs != tt.diffs {
				t.Fatalf("%d differences, want %d\n%s", end.Diffs, tt.diffs, out)
			}
		})
	}
}

func withCode(e Event, h string) Event {
	e.Code, _ = hex.DecodeString(h)
	return e
}

// The glibc x86-64 robust unlock (see translator's tests): a thread
// killed at 0x11, after the xchg that released the word and before the
// store that clears list_op_pending.
const glibc64Unlock = "488d47206448890425f002000031c0870785c0780e6448c70425f002000000000000c34531d2ba01000000be81000000b8ca0000000f05ebdc"

// unlockWindowExit is the death of tid inside that window, its pending
// word reused memory that happens to hold its TID.
func unlockWindowExit(t testing.TB, walks ...robustlist2.ListWalk) Event {
	const code, tp = 0x400000, 0x7f0000001000
	head := uint64(tp + 0x2f0 - 16)
	const mutex = 0x600000
	mem := []MemWord{{Addr: head, Size: 8, Value: head}, {Addr: head + 8, Size: 8, Value: 1<<64 - 0x20}, {Addr: head + 16, Size: 8, Value: mutex + 0x20},
		{Addr: mutex, Size: 4, Value: tid}}
	mem = append(mem, codeWords(t, glibc64Unlock, 0x90, code)...)
	return Event{Kind: KindExit, TID: tid, TGID: tid, Cause: shim.CauseSignal, HasRegs: true, Regs: Regs{Mode: 64, IP: code + 0x11, SP: 0x7ffff000, TP: tp},
		HasMemory: true, Memory: mem, HasWalks: len(walks) > 0, Walks: walks}
}

func TestReplayUnlockWindow(t *testing.T) {
	const tp = 0x7f0000001000
	head := uint64(tp + 0x2f0 - 16)
	for _, kernelRule := range []bool{false, true} {
		ev := unlockWindowExit(t)
		out, end := replayText(t, build(t, Config{KernelUnlockRule: kernelRule}, task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head, 24), ev))
		want := "pending node 0x600020 word 0x600000: unlock-window-wake-only 0x00000064 -> 0x00000064"
		if kernelRule {
			want = "pending node 0x600020 word 0x600000: owner-died 0x00000064 -> 0x40000000"
		}
		if !strings.Contains(out, want) {
			t.Errorf("kernel rule %v: output lacks %q\n%s", kernelRule, want, out)
		}
		if wantN := int64(1); !kernelRule && end.Stats.UnlockWindows != wantN {
			t.Errorf("unlock windows %d, want %d", end.Stats.UnlockWindows, wantN)
		}
	}
}

// musl 1.2.3's __pthread_mutex_unlock for x86-64, byte for byte as
// Debian's musl-dev ships it in /usr/lib/x86_64-linux-musl/libc.a
// (objcopy -O binary --only-section=.text.__pthread_mutex_unlock; its
// calls to __vm_lock and __vm_unlock are left unrelocated, so they land
// on the next instruction). It keeps the thread's self pointer (%fs:0)
// in %r15 and clears list_op_pending through it, not through %fs:
//
//	c0: xchg %r13d,0x4(%rbx)     the release of the futex word
//	c4: test %esi,%esi           a thread killed here released the word...
//	cb: jne 1d0
//	1d0: movq $0,0x98(%r15)      ...and had not run self->robust_list.pending = 0
//
// So whether a thread killed at 0xc4 was in the unlock window depends on
// %r15, which only the exit's "gpr" tells replay.
const musl123Unlock = "415741564155415455534889fb4883ec188b2f8b77084189ec89e841f7d44181e48000000083e00f743e8b4f0441b801" +
	"000000644c8b34250000000089ca4d89f781e2ffffff3f413956300f84bf0000004883c4184489c05b5d415c415d415e" +
	"415fc30f1f4400004531ed85c04189e8488d7b040f95c24585e40f94c021c24183e008743b85c9780c89c8f0440fb16b" +
	"0439c174164585ed0f85c20000004489e6b8ca00000083ce070f0584d20f855d0100004531c0eb990f1f840000000000" +
	"44876b0485f60f95c384d20f85ff0000004585ed0f899e00000031f64585e4400f95c6c1e60783ce0141b9ca000000ba" +
	"010000004c89c80f054883f8da75b44c89c84889d60f05e945ffffff0f1f400089ea83e20383fa01746e4189ed4183e5" +
	"0474134189cdbaffffff7f4181e500000040440f45ea4585e47465488b7b18488b53204981c6880000004889174c39f2" +
	"0f8415ffffff48897af8e90cffffff90b8ffffffff894308f0830c2400e92cffffff660f1f44000084db0f855affffff" +
	"e92effffff0f1f008b571485d2748b83ea014531c0895714e9b4feffff0f1f00488d53208944240c4989969800000089" +
	"742408890c24e8000000008b44240c8b7424088b0c24e970ffffff0f1f44000049c78798000000000000004489442408" +
	"48893c24e8000000004585ed488b3c24448b442408780884db0f84b4feffffbe01000000e9e0feffff0f1f8000000000" +
	"49c7879800000000000000e800000000e98efeffff"

// muslUnlockExit is the death of tid at 0xc4 of musl's unlock (after the
// release, before the clear), its mutex's memory reused with its TID in
// the futex word's place, as the adapter records it: with every register
// when gpr is set, with ip, sp and tp only otherwise. r15 is what %r15
// holds: at a real death, musl's self pointer (muslSelf, also the thread
// pointer).
func muslUnlockExit(t testing.TB, gpr bool, r15 uint64, walks ...robustlist2.ListWalk) Event {
	const code, self, mutex, sp = 0x401000, muslSelf, 0x600000, 0x7ffff000
	head := uint64(self + 0x88) // &self->robust_list.head
	// The list is empty (the unlock took the mutex off it); pending is
	// &m->_m_next, 0x20 into the mutex, whose word _m_lock is at 4.
	mem := []MemWord{{Addr: head, Size: 8, Value: head}, {Addr: head + 8, Size: 8, Value: 1<<64 - 0x1c}, {Addr: head + 16, Size: 8, Value: mutex + 0x20},
		{Addr: mutex + 4, Size: 4, Value: tid}}
	mem = append(mem, codeWords(t, musl123Unlock, 0xcc, code)...)
	e := Event{Kind: KindExit, TID: tid, TGID: tid, Cause: shim.CauseSignal, HasRegs: true, Regs: Regs{Mode: 64, IP: code + 0xc4, SP: sp, TP: self},
		HasMemory: true, Memory: mem, HasWalks: len(walks) > 0, Walks: walks}
	if gpr {
		// The registers at 0xc4: %rbx the mutex, %rdi its word, %r13 the
		// word's old value, %r14 the list head, %r15 self.
		e.Regs.HasGPR = true
		e.Regs.GPR = GPR{RBX: mutex, RDI: mutex + 4, RSI: 1, RCX: tid, RDX: 1, RBP: 0x84, R13: tid, R14: head, R15: r15,
			RSP: sp, RIP: code + 0xc4, EFLAGS: 0x10202}
	}
	return e
}

const muslSelf = 0x7f0000002000

// muslLiveWalk is the walk fexrl made live for muslUnlockExit: the
// unlock-window rule, a wake and no write.
func muslLiveWalk() robustlist2.ListWalk {
	const head = muslSelf + 0x88
	return robustlist2.ListWalk{Index: robustlist2.SlotNative, Slot: robustlist2.Slot{Head: head, Bits: 64},
		Report: &robustlist2.Report{FutexOffset: -0x1c, PendingNode: 0x600020, Stop: robustlist2.StopEnd,
			Entries: []robustlist2.Entry{{Node: 0x600020, Word: 0x600004, Pending: true, Action: robustlist2.ActionUnlockWindow,
				Old: tid, New: tid, Wakes: 1}}}}
}

// TestReplayUnlockWindowGPR replays a death inside musl's real unlock,
// which reaches list_op_pending through %r15: with the exit's "gpr",
// replay makes the live decision (the unlock-window rule: the reused
// word is only woken); without it, replay knows only the stack pointer,
// cannot tell, and takes the kernel's rule (owner-died written into the
// reused word), which --check reports against the recording.
func TestReplayUnlockWindowGPR(t *testing.T) {
	const head = muslSelf + 0x88
	tests := []struct {
		name       string
		gpr        bool
		r15        uint64
		kernelRule bool
		want       []string
		diffs      int64
		windows    int64
	}{
		{name: "with gpr", gpr: true, r15: muslSelf, windows: 1,
			want: []string{"ip 0x4010c4", "pending node 0x600020 word 0x600004: unlock-window-wake-only 0x00000064 -> 0x00000064", "check: replay matches"}},
		{name: "without gpr", gpr: false, r15: muslSelf, diffs: 4,
			want: []string{"pending node 0x600020 word 0x600004: owner-died 0x00000064 -> 0x40000000",
				"DIFF: list native entry 0 (word 0x600004): action recorded unlock-window-wake-only, replay owner-died"}},
		{name: "gpr with another %r15", gpr: true, r15: muslSelf + 0x1000, diffs: 4,
			want: []string{"pending node 0x600020 word 0x600004: owner-died 0x00000064 -> 0x40000000",
				"DIFF: list native entry 0 (word 0x600004): action recorded unlock-window-wake-only, replay owner-died"}},
		{name: "gpr, kernel rule configured", gpr: true, r15: muslSelf, kernelRule: true, diffs: 4,
			want: []string{"pending node 0x600020 word 0x600004: owner-died 0x00000064 -> 0x40000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := muslUnlockExit(t, tt.gpr, tt.r15, muslLiveWalk())
			tr := build(t, Config{KernelUnlockRule: tt.kernelRule}, task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head, 24), ev)
			if got := bytes.Contains(tr, []byte(`"gpr":{"rax":0,"rbx":6291456,`)); got != tt.gpr {
				t.Fatalf("trace has gpr %v, want %v\n%s", got, tt.gpr, tr)
			}
			out, end := replayText(t, tr)
			containsInOrder(t, out, tt.want)
			if end.Diffs != tt.diffs || end.Stats.UnlockWindows != tt.windows {
				t.Fatalf("%d differences, %d unlock windows; want %d and %d\n%s", end.Diffs, end.Stats.UnlockWindows, tt.diffs, tt.windows, out)
			}
		})
	}
}

func TestReplayDeterministic(t *testing.T) {
	marked := robustlist2.Entry{Node: node64, Word: word64, Action: robustlist2.ActionMarked, Old: tid, New: died}
	var events []Event
	for i := int32(0); i < 50; i++ {
		events = append(events, task(tid+i, tid+i, 0), sys(tid+i, ABIx86_64, 273, 0, head64, 24))
	}
	for i := int32(0); i < 50; i += 2 {
		m := list64(uint32(tid + i))
		e := marked
		e.Old = uint32(tid + i)
		events = append(events, exit(tid+i, m, walk64(robustlist2.StopEnd, e)))
	}
	tr := build(t, Config{}, events...)
	for _, asJSON := range []bool{false, true} {
		var outs [2]string
		for i := range outs {
			rd, err := NewReader(bytes.NewReader(tr))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			var sink Sink = NewTextSink(&b, true)
			if asJSON {
				sink = NewJSONSink(&b, true)
			}
			if _, err := Replay(rd, sink, ReplayOptions{}, nil); err != nil {
				t.Fatal(err)
			}
			outs[i] = b.String()
		}
		if outs[0] != outs[1] || outs[0] == "" {
			t.Fatalf("json %v: two replays differ", asJSON)
		}
		if !strings.Contains(outs[0], "25") {
			t.Fatalf("output looks wrong:\n%s", outs[0])
		}
	}
}

func TestReplayStopsAtBadLine(t *testing.T) {
	tr := append(build(t, Config{}, task(tid, tid, 0)), "{\"ev\":\"task\",\"tid\":1\n"...)
	rd, err := NewReader(bytes.NewReader(tr))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, err = Replay(rd, NewTextSink(&b, false), ReplayOptions{}, nil)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("error %v, want one on line 3", err)
	}
	if !strings.Contains(b.String(), "line 2: tid 100: start") {
		t.Fatalf("the steps before the error were not flushed:\n%s", b.String())
	}
}

func TestReplayMemoryStaysBounded(t *testing.T) {
	// Exits at ever new addresses: the simulated pages must not pile up.
	var events []Event
	for i := int32(0); i < 3000; i++ {
		base := uint64(i) << 20
		mem := []MemWord{{Addr: base + head64, Size: 8, Value: base + head64}, {Addr: base + head64 + 8, Size: 8, Value: 0}, {Addr: base + head64 + 16, Size: 8, Value: 0}}
		events = append(events, task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, base+head64, 24),
			Event{Kind: KindExit, TID: tid, TGID: tid, Cause: shim.CauseExit, HasMemory: true, Memory: mem})
	}
	tr := build(t, Config{}, events...)
	rd, err := NewReader(bytes.NewReader(tr))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReplayer(rd.Header(), ReplayOptions{})
	for {
		e, err := rd.Next()
		if err != nil {
			break
		}
		if _, err := r.Apply(rd.Line(), e); err != nil {
			t.Fatal(err)
		}
		if n := len(r.mem.mapped); n > maxMappedPages+8 {
			t.Fatalf("%d pages mapped", n)
		}
	}
	if end := r.Finish(); end.Exits != 3000 || end.Stats.Walks != 3000 {
		t.Fatalf("end %+v", end)
	}
}

// codeWords is machine code given in hex, padded with pad to whole 32-bit
// words, as the memory words a recorded exit holds at address at.
func codeWords(t testing.TB, code string, pad byte, at uint64) []MemWord {
	t.Helper()
	b, err := hex.DecodeString(code)
	if err != nil {
		t.Fatal(err)
	}
	for len(b)%4 != 0 {
		b = append(b, pad)
	}
	var mem []MemWord
	for i := 0; i < len(b); i += 4 {
		mem = append(mem, MemWord{Addr: at + uint64(i), Size: 4, Value: uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24})
	}
	return mem
}

// containsInOrder fails t unless out holds every string of want, in order.
func containsInOrder(t testing.TB, out string, want []string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in order)\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
}
