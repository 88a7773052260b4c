package robustlist2_test

import (
	"errors"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/robustlist2"
)

func TestSetGetRobustList(t *testing.T) {
	tests := []struct {
		name    string
		bits    abi.Bits
		head    uint64
		length  uint64
		wantErr error
	}{
		{"32-bit, right len", abi.Bits32, 0x1000, 12, nil},
		{"32-bit, 64-bit len", abi.Bits32, 0x1000, 24, unix.EINVAL},
		{"32-bit, len+1", abi.Bits32, 0x1000, 13, unix.EINVAL},
		{"32-bit, len 0", abi.Bits32, 0x1000, 0, unix.EINVAL},
		{"64-bit, right len", abi.Bits64, 0x7f0000001000, 24, nil},
		{"64-bit, 32-bit len", abi.Bits64, 0x1000, 12, unix.EINVAL},
		{"64-bit, huge len", abi.Bits64, 0x1000, 1 << 40, unix.EINVAL},
		{"NULL head is allowed", abi.Bits64, 0, 24, nil},
		{"bad pointer is recorded, not read", abi.Bits64, 0xdead0000beef, 24, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := robustlist2.NewRegistry(robustlist2.Config{})
			task, _ := reg.Add(100, 100)
			err := reg.SetRobustList(task, tt.bits, tt.head, tt.length)
			if !errors.Is(err, tt.wantErr) && err != tt.wantErr {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			mem := newSimMem()
			mem.mapRange(0x5000, 0x1000, true)
			if err := reg.GetRobustList(task, tt.bits, 0, 0x5000, 0x5100, mem); err != nil {
				t.Fatal(err)
			}
			wantHead := tt.head
			if tt.wantErr != nil {
				wantHead = 0
			}
			var gotHead, gotLen uint64
			if tt.bits == abi.Bits32 {
				h, _ := mem.Load32(0x5000)
				l, _ := mem.Load32(0x5100)
				gotHead, gotLen = uint64(h), uint64(l)
				if v, _ := mem.Load32(0x5004); v != 0 {
					t.Errorf("a 32-bit get wrote past its pointer")
				}
			} else {
				gotHead, _ = mem.Load64(0x5000)
				gotLen, _ = mem.Load64(0x5100)
			}
			if gotHead != wantHead || gotLen != tt.bits.Head().Size {
				t.Errorf("get: head %#x len %d, want %#x %d", gotHead, gotLen, wantHead, tt.bits.Head().Size)
			}
		})
	}
}

func TestLegacySlotsAreSeparate(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{})
	task, _ := reg.Add(1, 1)
	if err := reg.SetRobustList(task, abi.Bits32, 0x1000, 12); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetRobustList(task, abi.Bits64, 0x2000, 24); err != nil {
		t.Fatal(err)
	}
	slots := task.Slots()
	if slots[robustlist2.SlotCompat].Head != 0x1000 || slots[robustlist2.SlotCompat].Bits != abi.Bits32 ||
		slots[robustlist2.SlotNative].Head != 0x2000 || slots[robustlist2.SlotNative].Bits != abi.Bits64 {
		t.Fatalf("slots %+v", slots[:2])
	}
	if l := task.Lists(); len(l) != 2 || l[0].Index != robustlist2.SlotNative || l[1].Index != robustlist2.SlotCompat {
		t.Fatalf("walk order %+v", l)
	}
}

func TestGetRobustListErrors(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{
		MayRead: func(caller, target *robustlist2.Task) bool { return target.TGID() != 666 },
	})
	caller, _ := reg.Add(10, 10)
	other, _ := reg.Add(11, 11)
	reg.Add(666, 666)
	if err := reg.SetRobustList(other, abi.Bits64, 0x4242, 24); err != nil {
		t.Fatal(err)
	}
	mem := newSimMem()
	mem.mapRange(0x5000, 0x1000, true)
	tests := []struct {
		name            string
		pid             int32
		headPtr, lenPtr uint64
		want            error
		lenWritten      bool
	}{
		{"other task", 11, 0x5000, 0x5100, nil, true},
		{"unknown pid", 4242, 0x5000, 0x5100, unix.ESRCH, false},
		{"negative pid", -1, 0x5000, 0x5100, unix.ESRCH, false},
		{"not allowed", 666, 0x5000, 0x5100, unix.EPERM, false},
		{"bad len_ptr: nothing written", 11, 0x5000, 0x9000, unix.EFAULT, false},
		{"bad head_ptr: len written first", 11, 0x9000, 0x5100, unix.EFAULT, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = mem.Store64(0x5000, 0)
			_ = mem.Store64(0x5100, 0)
			err := reg.GetRobustList(caller, abi.Bits64, tt.pid, tt.headPtr, tt.lenPtr, mem)
			if err != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			l, _ := mem.Load64(0x5100)
			if (l == 24) != tt.lenWritten {
				t.Errorf("len written: %v, want %v", l == 24, tt.lenWritten)
			}
			if tt.want == nil {
				if h, _ := mem.Load64(0x5000); h != 0x4242 {
					t.Errorf("head %#x", h)
				}
			}
		})
	}
}

func TestSetRobustList2(t *testing.T) {
	type call struct {
		bits        abi.Bits
		head        uint64
		cmd, idx, f uint32
		want        int64
		err         error
	}
	c64 := uint32(abi.RobustListCmdCreate64)
	c32 := uint32(abi.RobustListCmdCreate32)
	m64 := uint32(abi.RobustListCmdModify64)
	m32 := uint32(abi.RobustListCmdModify32)
	lim := uint32(abi.RobustListCmdListLimit)
	tests := []struct {
		name  string
		calls []call
	}{
		{"list limit", []call{{abi.Bits64, 0, lim, 0, 0, abi.RobustList2DefaultListLimit, nil}}},
		{"bad flags", []call{{abi.Bits64, 0x1000, c64, 0, 999, 0, unix.EINVAL}, {abi.Bits64, 0, lim, 0, 1, 0, unix.EINVAL}}},
		{"unknown and kernel-internal commands", []call{
			{abi.Bits64, 0x1000, uint32(abi.RobustListCmdUserMax), 0, 0, 0, unix.EINVAL},
			{abi.Bits64, 0x1000, uint32(abi.RobustListSetNative), 0, 0, 0, unix.EINVAL},
			{abi.Bits64, 0x1000, uint32(abi.RobustListSetCompat), 0, 0, 0, unix.EINVAL},
			{abi.Bits64, 0x1000, 0xffffffff, 0, 0, 0, unix.EINVAL},
		}},
		{"creates hand out indices in order", []call{
			{abi.Bits64, 0x1000, c64, 0, 0, 0, nil},
			{abi.Bits64, 0x2000, c32, 99, 0, 1, nil}, // index ignored by CREATE
			{abi.Bits32, 0x3000, c32, 0, 0, 2, nil},
		}},
		{"full table", func() []call {
			var cs []call
			for i := 0; i < abi.RobustList2DefaultListLimit; i++ {
				cs = append(cs, call{abi.Bits64, uint64(0x1000 * (i + 1)), c64, 0, 0, int64(i), nil})
			}
			return append(cs, call{abi.Bits64, 0x100000, c64, 0, 0, 0, unix.ENOSPC})
		}()},
		{"create NULL", []call{{abi.Bits64, 0, c64, 0, 0, 0, unix.EINVAL}}},
		{"64-bit list from a 32-bit caller", []call{{abi.Bits32, 0x1000, c64, 0, 0, 0, unix.EOPNOTSUPP}, {abi.Bits32, 0x1000, m64, 0, 0, 0, unix.EOPNOTSUPP}}},
		{"misaligned heads", []call{{abi.Bits64, 0x1004, c64, 0, 0, 0, unix.EINVAL}, {abi.Bits64, 0x1002, c32, 0, 0, 0, unix.EINVAL}, {abi.Bits64, 0x1004, c32, 0, 0, 0, nil}}},
		{"32-bit list above 4 GiB", []call{{abi.Bits64, 0x100000000, c32, 0, 0, 0, unix.EINVAL}, {abi.Bits64, 0xfffffff8, c32, 0, 0, 0, unix.EINVAL}, {abi.Bits64, 0xfffffff0, c32, 0, 0, 0, nil}}},
		{"modify", []call{
			{abi.Bits64, 0x1000, c64, 0, 0, 0, nil},
			{abi.Bits64, 0x2000, m64, 0, 0, 0, nil},
			{abi.Bits64, 0x2000, m32, 0, 0, 0, unix.EINVAL}, // width mismatch
			{abi.Bits64, 0x2000, m64, 1, 0, 0, unix.ENOENT}, // not in use
			{abi.Bits64, 0x2000, m64, abi.RobustList2DefaultListLimit, 0, 0, unix.EINVAL},
			{abi.Bits64, 0x2000, m64, 0xffffffff, 0, 0, unix.EINVAL},
			{abi.Bits64, 0, m64, 0, 0, 0, nil},              // clear
			{abi.Bits64, 0x2000, m64, 0, 0, 0, unix.ENOENT}, // now free
			{abi.Bits64, 0x3000, c32, 0, 0, 0, nil},         // and reused
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := robustlist2.NewRegistry(robustlist2.Config{})
			task, _ := reg.Add(1, 1)
			for i, c := range tt.calls {
				got, err := reg.SetRobustList2(task, c.bits, c.head, c.cmd, c.idx, c.f)
				if err != c.err && !errors.Is(err, c.err) {
					t.Fatalf("call %d %+v: err %v, want %v", i, c, err, c.err)
				}
				if err == nil && got != c.want {
					t.Fatalf("call %d %+v: got %d, want %d", i, c, got, c.want)
				}
			}
		})
	}
}

func TestGetRobustList2(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{ListLimit: 3})
	caller, _ := reg.Add(1, 1)
	if _, err := reg.SetRobustList2(caller, abi.Bits64, 0xabc0, uint32(abi.RobustListCmdCreate32), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetRobustList2(caller, abi.Bits64, 0x7fff00001000, uint32(abi.RobustListCmdCreate64), 0, 0); err != nil {
		t.Fatal(err)
	}
	mem := newSimMem()
	mem.mapRange(0x5000, 0x1000, true)
	tests := []struct {
		name  string
		pid   int32
		ptr   uint64
		index uint32
		flags uint32
		want  error
		val   uint64
		width int
	}{
		{"32-bit list writes 4 bytes", 0, 0x5000, 0, 0, nil, 0xabc0, 4},
		{"64-bit list writes 8 bytes", 1, 0x5000, 1, 0, nil, 0x7fff00001000, 8},
		{"index not in use", 0, 0x5000, 2, 0, unix.ENOENT, 0, 0},
		{"index out of range", 0, 0x5000, 3, 0, unix.EINVAL, 0, 0},
		{"flags", 0, 0x5000, 0, 1, unix.EINVAL, 0, 0},
		{"unknown pid", 77, 0x5000, 0, 0, unix.ESRCH, 0, 0},
		{"bad head_ptr", 0, 0x9000, 0, 0, unix.EFAULT, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = mem.Store64(0x5000, 0xffffffffffffffff)
			err := reg.GetRobustList2(caller, tt.pid, tt.ptr, tt.index, tt.flags, mem)
			if err != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			got, _ := mem.Load64(0x5000)
			want := tt.val
			if tt.width == 4 {
				want |= 0xffffffff00000000
			}
			if got != want {
				t.Errorf("memory %#x, want %#x", got, want)
			}
		})
	}
}

// TestExitAndExec walks a task's lists through the registry.
func TestExitAndExec(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{})
	b := newList(t, abi.Bits32, 8)
	n := uint64(0x20000)
	b.node(n, b.head, tid|W)
	b.setHead(n, 0)
	task, _ := reg.Add(tid, tid)
	if err := reg.SetRobustList(task, abi.Bits32, b.head, 12); err != nil {
		t.Fatal(err)
	}
	w := &recWaker{}
	walks, ok := reg.Exec(tid, b.mem, w, robustlist2.Death{})
	if !ok || len(walks) != 1 || walks[0].Report.Marked != 1 || b.word(n) != W|OD || len(w.wakes) != 1 {
		t.Fatalf("exec: %v %+v word %#x wakes %v", ok, walks, b.word(n), w.wakes)
	}
	if len(task.Lists()) != 0 {
		t.Fatal("exec kept the lists")
	}
	if _, ok := reg.Lookup(tid); !ok {
		t.Fatal("exec forgot the task")
	}
	// Registered again after exec, then exit.
	b.node(n, b.head, tid)
	if err := reg.SetRobustList(task, abi.Bits32, b.head, 12); err != nil {
		t.Fatal(err)
	}
	walks, ok = reg.Exit(tid, b.mem, w, robustlist2.Death{Options: func(int, robustlist2.Slot) robustlist2.WalkOptions {
		return robustlist2.WalkOptions{}
	}})
	if !ok || len(walks) != 1 || b.word(n) != OD {
		t.Fatalf("exit: %v %+v word %#x", ok, walks, b.word(n))
	}
	if _, ok := reg.Lookup(tid); ok {
		t.Fatal("exit kept the task")
	}
	if _, ok := reg.Exit(tid, b.mem, w, robustlist2.Death{}); ok {
		t.Fatal("second exit found the task")
	}
}

// TestRegistryConcurrent runs many tasks through their whole life at once
// (run it with -race).
func TestRegistryConcurrent(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{})
	const workers, perWorker = 16, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mem := newSimMem()
			for i := 0; i < perWorker; i++ {
				id := int32(w*perWorker + i + 1)
				task, _ := reg.Add(id, id)
				if err := reg.SetRobustList(task, abi.Bits64, 0, 24); err != nil {
					t.Error(err)
					return
				}
				if _, err := reg.SetRobustList2(task, abi.Bits64, 0x1000, uint32(abi.RobustListCmdCreate64), 0, 0); err != nil {
					t.Error(err)
					return
				}
				if got, ok := reg.Lookup(id); !ok || got != task {
					t.Errorf("lookup %d", id)
					return
				}
				if i%2 == 0 {
					reg.Exit(id, mem, &recWaker{}, robustlist2.Death{})
				}
			}
		}(w)
	}
	wg.Wait()
	if got, want := reg.Len(), workers*perWorker/2; got != want {
		t.Fatalf("Len %d, want %d", got, want)
	}
	if tasks := reg.Tasks(); len(tasks) != workers*perWorker/2 || tasks[0].TID() >= tasks[1].TID() {
		t.Fatal("Tasks not complete or not sorted")
	}
}

func TestAddReplaces(t *testing.T) {
	reg := robustlist2.NewRegistry(robustlist2.Config{})
	a, old := reg.Add(5, 5)
	if old != nil {
		t.Fatal("fresh add replaced something")
	}
	b, old := reg.Add(5, 9)
	if old != a || b.TGID() != 9 {
		t.Fatal("reuse of a TID did not replace the old task")
	}
}

func TestSlotName(t *testing.T) {
	for i, want := range []string{"native", "compat", "robust2[0]", "robust2[7]"} {
		idx := i
		if i == 3 {
			idx = robustlist2.SlotRobust2 + 7
		}
		if got := robustlist2.SlotName(idx); got != want {
			t.Errorf("SlotName(%d) = %q, want %q", idx, got, want)
		}
	}
}
