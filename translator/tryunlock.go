package translator

import (
	"fmt"

	"github.com/fexrl/fexrl/abi"
)

// The vDSO of 2026 kernels has
//
//	u32 __vdso_futex_robust_list64_try_unlock(u32 *lock, u32 tid, u64 *pop);
//	u32 __vdso_futex_robust_list32_try_unlock(u32 *lock, u32 tid, u32 *pop);
//
// Uncontended (the word is exactly tid) they turn it into 0 and clear
// *pop, returning tid; contended they change nothing and return the word.
// The release and the clear are two instructions, and the kernel fixes
// up a thread stopped between them by its instruction pointer: if the
// compare-and-swap succeeded (ZF set) it clears *pop itself, so the
// pending op is never left pointing at a released word.
//
// An emulator offers its guests the same functions from its own guest
// vDSO. TryUnlockCode gives it the machine code to place there and the
// range of the fixup; when a guest thread dies with its instruction
// pointer in that range and ZF set, fexrl treats the pending op as
// already cleared (robustlist2.PendingCleared), exactly as the kernel's
// fixup does.

// TryUnlock is one try-unlock function's code.
type TryUnlock struct {
	// Symbol is the vDSO symbol the code implements.
	Symbol string
	// Mode is the code's size: 64 (x86-64, System V arguments in rdi,
	// esi, rdx) or 32 (i386, cdecl arguments on the stack).
	Mode int
	// Pop is the width of the pending slot the code clears.
	Pop abi.Bits
	// Code is position-independent machine code.
	Code []byte
	// FixupStart and FixupEnd bound, as offsets into Code, the
	// instructions after the compare-and-swap and up to the clear of *pop
	// included: a thread stopped at an IP in [FixupStart, FixupEnd) with
	// ZF set has released the word and not cleared *pop yet.
	FixupStart, FixupEnd int
	// PopReg is the register that holds pop inside the fixup range.
	PopReg Reg
}

// TryUnlockCode returns the try-unlock function for guest code of the
// given mode (32 or 64) clearing a pending slot of width pop. The i386
// guest's 64-bit slot variant is not offered: an i386 vDSO has the
// 32-bit function only.
func TryUnlockCode(mode int, pop abi.Bits) (TryUnlock, error) {
	switch {
	case mode == 64 && pop == abi.Bits64:
		return TryUnlock{
			Symbol: "__vdso_futex_robust_list64_try_unlock", Mode: 64, Pop: abi.Bits64,
			Code: []byte{
				0x89, 0xf0, // mov %esi,%eax        expected = tid
				0x31, 0xc9, // xor %ecx,%ecx        new = 0
				0xf0, 0x0f, 0xb1, 0x0f, // lock cmpxchg %ecx,(%rdi)
				0x75, 0x07, // jne out             contended: nothing to clear
				0x48, 0xc7, 0x02, 0x00, 0x00, 0x00, 0x00, // movq $0,(%rdx)   *pop = NULL
				0xc3, // out: ret                   eax = tid, or the word
			},
			FixupStart: 8, FixupEnd: 17, PopReg: RegRDX,
		}, nil
	case mode == 64 && pop == abi.Bits32:
		return TryUnlock{
			Symbol: "__vdso_futex_robust_list32_try_unlock", Mode: 64, Pop: abi.Bits32,
			Code: []byte{
				0x89, 0xf0, // mov %esi,%eax
				0x31, 0xc9, // xor %ecx,%ecx
				0xf0, 0x0f, 0xb1, 0x0f, // lock cmpxchg %ecx,(%rdi)
				0x75, 0x06, // jne out
				0xc7, 0x02, 0x00, 0x00, 0x00, 0x00, // movl $0,(%rdx)
				0xc3, // out: ret
			},
			FixupStart: 8, FixupEnd: 16, PopReg: RegRDX,
		}, nil
	case mode == 32 && pop == abi.Bits32:
		return TryUnlock{
			Symbol: "__vdso_futex_robust_list32_try_unlock", Mode: 32, Pop: abi.Bits32,
			Code: []byte{
				0x8b, 0x4c, 0x24, 0x04, // mov 0x4(%esp),%ecx   lock
				0x8b, 0x44, 0x24, 0x08, // mov 0x8(%esp),%eax   expected = tid
				0x8b, 0x54, 0x24, 0x0c, // mov 0xc(%esp),%edx   pop
				0x53,       // push %ebx
				0x31, 0xdb, // xor %ebx,%ebx
				0xf0, 0x0f, 0xb1, 0x19, // lock cmpxchg %ebx,(%ecx)
				0x75, 0x06, // jne out
				0xc7, 0x02, 0x00, 0x00, 0x00, 0x00, // movl $0,(%edx)
				0x5b, // out: pop %ebx
				0xc3, // ret
			},
			FixupStart: 19, FixupEnd: 27, PopReg: RegRDX,
		}, nil
	}
	return TryUnlock{}, fmt.Errorf("translator: no try-unlock function for %d-bit code and a %v pending slot", mode, pop)
}

// zfFlag is ZF in RFLAGS.
const zfFlag = 1 << 6

// InFixup reports whether a thread that died in this code, placed at
// base, had released the word and not yet cleared *pop (IP in the fixup
// range, ZF set), and if so the pop address it was clearing.
func (t TryUnlock) InFixup(base uint64, st DeathState) (pop uint64, ok bool) {
	if st.Mode != t.Mode || st.IP < base+uint64(t.FixupStart) || st.IP >= base+uint64(t.FixupEnd) || st.Flags&zfFlag == 0 || st.Reg == nil {
		return 0, false
	}
	v, ok := st.Reg(x86regOf(t.PopReg))
	if !ok {
		return 0, false
	}
	if t.Mode == 32 {
		v = uint64(uint32(v))
	}
	return v, true
}
