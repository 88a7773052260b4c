package translator

import (
	"encoding/hex"
	"errors"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// codeAt is guest code loaded at an address.
type codeAt struct {
	base uint64
	b    []byte
}

func (c codeAt) ReadCode(addr uint64, b []byte) (int, error) {
	if addr < c.base || addr >= c.base+uint64(len(c.b)) {
		return 0, errors.New("no code there")
	}
	return copy(b, c.b[addr-c.base:]), nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The snippets are glibc's and musl's robust unlock reduced to their
// shape, assembled with GNU as:
//
// glibc x86-64 (__pthread_mutex_unlock_full, robust non-PI):
//
//	00 lea 0x20(%rdi),%rax ; 04 mov %rax,%fs:0x2f0 ; 0d xor %eax,%eax
//	0f xchg %eax,(%rdi)    ; 11 test %eax,%eax     ; 13 js 23
//	15 movq $0,%fs:0x2f0   ; 22 ret
//	23 xor %r10d,%r10d ; 26 mov $1,%edx ; 2b mov $0x81,%esi ; 30 mov $0xca,%eax
//	35 syscall ; 37 jmp 15
//
// glibc i386 (the wake through the vDSO):
//
//	00 mov %ebp,%gs:0x74 ; 07 xor %eax,%eax ; 09 xchg %eax,(%ebx)
//	0b test %eax,%eax    ; 0d js 1b         ; 0f movl $0,%gs:0x74 ; 1a ret
//	1b mov $0xf0,%eax    ; 20 call *%gs:0x10 ; 27 jmp f
//
// musl x86-64 (pending reached through the thread's self pointer in %rbx,
// cleared right after the release, wake after that):
//
//	00 mov %fs:0,%rbx ; 09 lea 0x18(%rdi),%rax ; 0d mov %rax,0xa0(%rbx)
//	14 xor %eax,%eax  ; 16 xchg %eax,(%rdi)    ; 18 movq $0,0xa0(%rbx)
//	23 test %eax,%eax ; 25 js 28 ; 27 ret ; 28 mov $0xca,%eax ; 2d syscall ; 2f ret
//
// glibc x86-64 lock, robust (set pending, acquire, link into the list,
// clear pending):
//
//	00 lea 0x20(%rdi),%rax ; 04 mov %rax,%fs:0x2f0 ; 0d mov %fs:0x2d0,%edx
//	15 xor %eax,%eax ; 17 lock cmpxchg %edx,(%rdi) ; 1b jne 45
//	1d mov %fs:0x2e0,%rax ; 26 mov %rax,0x20(%rdi) ; 2a lea 0x20(%rdi),%rax
//	2e mov %rax,%fs:0x2e0 ; 37 movq $0,%fs:0x2f0 ; 44 ret
//	45 mov $0xca,%eax ; 4a syscall ; 4c jmp 1b
const (
	lock64  = "488d47206448890425f0020000648b1425d002000031c0f00fb117752864488b0425e002000048894720488d47206448890425e00200006448c70425f002000000000000c3b8ca0000000f05ebcd"
	glibc64 = "488d47206448890425f002000031c0870785c0780e6448c70425f002000000000000c34531d2ba01000000be81000000b8ca0000000f05ebdc"
	glibc32 = "65892d7400000031c0870385c0780c65c7057400000000000000c3b8f000000065ff1510000000ebe6"
	musl64  = "64488b1c2500000000488d4718488983a000000031c0870748c783a00000000000000085c07801c3b8ca0000000f05c3"
)

func TestUnlockWindow(t *testing.T) {
	const base = 0x400000
	const tp64, tp32 = 0x7f0000001000, 0xf7f01000
	const self = 0x7f0000002000
	regs := func(m map[x86asm.Reg]uint64) func(x86asm.Reg) (uint64, bool) {
		return func(r x86asm.Reg) (uint64, bool) { v, ok := m[r]; return v, ok }
	}
	tests := []struct {
		name string
		code string
		mode int
		tp   uint64
		reg  map[x86asm.Reg]uint64
		head uint64
		size int
		ip   uint64
		want bool
	}{
		{"glibc64 before the pending store", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x00, false},
		{"glibc64 pending set, before the xchg", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x0d, false},
		{"glibc64 at the xchg", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x0f, false},
		{"glibc64 right after the xchg", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x11, true},
		{"glibc64 on the way to the wake", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x26, true},
		{"glibc64 in the futex wake", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x37, true},
		{"glibc64 at the clearing store", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x15, true},
		{"glibc64 after the clearing store", glibc64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x22, false},
		{"glibc64, another thread's pending field", glibc64, 64, tp64, nil, tp64 + 0x2e8, 8, 0x11, false},
		{"glibc64, 32-bit pointers", glibc64, 64, tp64, nil, tp64 + 0x2e8, 4, 0x11, false},
		{"glibc64 lock: acquired, not yet linked", lock64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x1b, false},
		// Past the link the code ahead looks like an unlock's; the walker
		// sees the mutex on the list and keeps the kernel's rule.
		{"glibc64 lock: linked, pending not cleared", lock64, 64, tp64, nil, tp64 + 0x2e0, 8, 0x37, true},
		{"glibc32 right after the xchg", glibc32, 32, tp32, nil, tp32 + 0x6c, 4, 0x0b, true},
		{"glibc32 in the vDSO wake", glibc32, 32, tp32, nil, tp32 + 0x6c, 4, 0x27, true},
		{"glibc32 before the xchg", glibc32, 32, tp32, nil, tp32 + 0x6c, 4, 0x07, false},
		{"glibc32 after the clear", glibc32, 32, tp32, nil, tp32 + 0x6c, 4, 0x1a, false},
		{"glibc32 code read as 64-bit has no %gs pending", glibc32, 64, tp32, nil, tp32 + 0x6c, 4, 0x0b, false},
		{"musl right after the xchg", musl64, 64, tp64, map[x86asm.Reg]uint64{x86asm.RBX: self}, self + 0x90, 8, 0x18, true},
		{"musl before the xchg", musl64, 64, tp64, map[x86asm.Reg]uint64{x86asm.RBX: self}, self + 0x90, 8, 0x14, false},
		{"musl after the clear, in the wake", musl64, 64, tp64, map[x86asm.Reg]uint64{x86asm.RBX: self}, self + 0x90, 8, 0x2f, false},
		{"musl without the register value", musl64, 64, tp64, nil, self + 0x90, 8, 0x18, false},
		{"musl before %rbx is loaded", musl64, 64, tp64, map[x86asm.Reg]uint64{x86asm.RBX: 0}, self + 0x90, 8, 0x00, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := codeAt{base, mustHex(tt.code)}
			st := DeathState{Mode: tt.mode, IP: base + tt.ip, ThreadPointer: tt.tp, Reg: regs(tt.reg)}
			v := UnlockWindow(code, st, tt.head, tt.size)
			if v.InWindow != tt.want {
				t.Fatalf("InWindow %v, want %v: %s", v.InWindow, tt.want, v.Reason)
			}
			if v.Reason == "" || v.Explored == 0 && tt.want {
				t.Errorf("verdict without a reason or exploration: %+v", v)
			}
		})
	}
}

// regions is guest memory made of several pieces.
type regions []codeAt

func (rs regions) ReadCode(addr uint64, b []byte) (int, error) {
	for _, r := range rs {
		if n, err := r.ReadCode(addr, b); err == nil {
			return n, nil
		}
	}
	return 0, errors.New("no memory there")
}

// TestUnlockWindowThroughTheVDSO: an i386 glibc thread that dies in the
// futex wake is inside __kernel_vsyscall (pop %ebp; pop %edx; pop %ecx;
// ret); the analysis returns through its real stack to the unlock.
func TestUnlockWindowThroughTheVDSO(t *testing.T) {
	const base, vdso, stack, tp = 0x8048000, 0xf7fc0000, 0xffff0000, 0xf7f01000
	le32 := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	var st []byte
	st = append(st, le32(1)...)         // saved ebp
	st = append(st, le32(2)...)         // saved edx
	st = append(st, le32(3)...)         // saved ecx
	st = append(st, le32(base+0x27)...) // return address: after call *%gs:0x10
	mem := regions{{base, mustHex(glibc32)}, {vdso, []byte{0x5d, 0x5a, 0x59, 0xc3}}, {stack, st}}
	tests := []struct {
		name string
		sp   uint64
		ok   bool
		want bool
	}{
		{"stack known", stack, true, true},
		{"stack pointer unknown", 0, false, false},
		{"stack pointer wrong", stack + 4, true, false},
	}
	for _, tt := range tests {
		reg := func(r x86asm.Reg) (uint64, bool) {
			if r == x86asm.RSP {
				return tt.sp, tt.ok
			}
			return 0, false
		}
		v := UnlockWindow(mem, DeathState{Mode: 32, IP: vdso, ThreadPointer: tp, Reg: reg}, tp+0x6c, 4)
		if v.InWindow != tt.want {
			t.Errorf("%s: InWindow %v, want %v: %s", tt.name, v.InWindow, tt.want, v.Reason)
		}
	}
}

func TestUnlockWindowBadInput(t *testing.T) {
	tests := []struct {
		name string
		code codeAt
		mode int
	}{
		{"no code", codeAt{0x1000, nil}, 64},
		{"garbage", codeAt{0x1000, []byte{0x0f, 0xff, 0xff, 0xff}}, 64},
		{"bad mode", codeAt{0x1000, mustHex(glibc64)}, 16},
		{"endless loop", codeAt{0x1000, []byte{0xeb, 0xfe}}, 64},
		{"truncated", codeAt{0x1000, []byte{0x64, 0x48, 0xc7}}, 64},
	}
	for _, tt := range tests {
		v := UnlockWindow(tt.code, DeathState{Mode: tt.mode, IP: 0x1000}, 0x2000, 8)
		if v.InWindow {
			t.Errorf("%s: in window: %+v", tt.name, v)
		}
	}
}

func FuzzUnlockWindow(f *testing.F) {
	f.Add(mustHex(glibc64), uint16(0x11), true)
	f.Add(mustHex(glibc32), uint16(0x0b), false)
	f.Add(mustHex(musl64), uint16(0x18), true)
	f.Fuzz(func(t *testing.T, code []byte, ip uint16, is64 bool) {
		mode := 32
		if is64 {
			mode = 64
		}
		st := DeathState{Mode: mode, IP: 0x1000 + uint64(ip), ThreadPointer: 0x5000,
			Reg: func(x86asm.Reg) (uint64, bool) { return 0x6000, true }}
		v := UnlockWindow(codeAt{0x1000, code}, st, 0x52e0, 8)
		if v.Explored > maxExplore {
			t.Fatalf("explored %d instructions", v.Explored)
		}
		if v.InWindow && v.ClearAt == 0 {
			t.Fatalf("in window without a clearing store: %+v", v)
		}
	})
}
