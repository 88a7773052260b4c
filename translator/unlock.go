package translator

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// This file finds out, from the code alone, whether a thread died inside
// a robust unlock after it released the futex word and before it cleared
// list_op_pending (glibc bug 14485). The kernel cannot tell; an emulator
// can, because it knows the dying thread's instruction pointer, registers
// and code. glibc (i386 and x86-64, static or dynamic, stripped or not)
// and musl all unlock a robust mutex with the same shape:
//
//	list_op_pending = &mutex->list       (a store to the pending field)
//	... take the mutex off the list ...
//	old = xchg(&mutex->lock, 0)          (or lock cmpxchg tid -> 0)
//	if (old & FUTEX_WAITERS) futex(FUTEX_WAKE)   (glibc; musl wakes after)
//	list_op_pending = NULL
//
// so the question is answered by exploring the code forward from the
// instruction pointer, on every path: if some path reaches the store that
// clears the thread's own list_op_pending field and no path reaches an
// atomic read-modify-write of memory (the release, or a lock) first, the
// thread had already released the word. The pending field is recognised
// by its address: thread pointer + displacement (%fs on x86-64, %gs on
// i386, glibc) or a register still holding its value at the moment of
// death plus a displacement (musl's self pointer).

// CodeReader reads guest code.
type CodeReader interface {
	// ReadCode fills b with the bytes at addr and returns how many it
	// could read (fewer near the end of a mapping).
	ReadCode(addr uint64, b []byte) (int, error)
}

// DeathState is what an emulator knows about a thread at its death.
type DeathState struct {
	// Mode is 32 or 64, the code size the thread was running.
	Mode int
	// IP is the guest instruction pointer (after the syscall instruction
	// if the thread died in a syscall).
	IP uint64
	// ThreadPointer is the base of %fs on x86-64 or of %gs on i386.
	ThreadPointer uint64
	// Flags is RFLAGS (the try-unlock fixup looks at ZF).
	Flags uint64
	// Reg returns a general-purpose register's value (the 64-bit
	// register; 32-bit guests' values zero-extended), or false. With
	// RSP, returns are followed through the thread's stack (read with the
	// CodeReader), so a death inside a helper (i386's __kernel_vsyscall)
	// is traced back to the unlock that called it.
	Reg func(r x86asm.Reg) (uint64, bool)
}

// WindowVerdict is the answer of UnlockWindow.
type WindowVerdict struct {
	// InWindow: the thread released the word and had not yet cleared
	// list_op_pending.
	InWindow bool
	// ClearAt is the address of the store that would have cleared the
	// pending field, if one was found.
	ClearAt uint64
	// ReleaseAt is the address of an atomic operation, or of a store that
	// links a mutex into the list, found ahead: the thread had not
	// released the word yet, or was locking.
	ReleaseAt uint64
	// Explored counts the instructions looked at.
	Explored int
	// Reason says in words why.
	Reason string
}

// Exploration bounds: an unlock's window spans a few dozen instructions.
const (
	maxExplore   = 1024
	maxPathInsns = 256
	maxCallDepth = 4
	// maxUnwinds bounds the returns followed through the thread's real
	// stack: i386 glibc dies inside __kernel_vsyscall, two returns away
	// from the unlock.
	maxUnwinds = 2
)

type pathState struct {
	ip        uint64
	steps     int
	clobbered map[x86asm.Reg]bool
	zero      map[x86asm.Reg]bool
	ret       []uint64
	// sp is the stack pointer's offset from its value at the death, while
	// spKnown; unwinds counts returns taken through the real stack.
	sp      int64
	spKnown bool
	unwinds int
}

func (p pathState) fork(ip uint64) pathState {
	q := pathState{ip: ip, steps: p.steps, clobbered: map[x86asm.Reg]bool{}, zero: map[x86asm.Reg]bool{}, ret: append([]uint64(nil), p.ret...),
		sp: p.sp, spKnown: p.spKnown, unwinds: p.unwinds}
	for r := range p.clobbered {
		q.clobbered[r] = true
	}
	for r := range p.zero {
		q.zero[r] = true
	}
	return q
}

// UnlockWindow explores the code from st.IP and says whether the thread
// is inside the window between the release of a robust futex and the
// store that clears list_op_pending, for the robust list whose head is at
// head with pointers of ptrSize bytes (4 or 8).
//
// A lock sets list_op_pending too, takes the word (which then holds the
// thread's TID, as reused memory might after an unlock) and clears the
// field after it links the mutex into the list, that is after a store to
// the head's next field. So a store to the head's next field ahead, like
// an atomic operation ahead, means the thread was not in an unlock window.
func UnlockWindow(code CodeReader, st DeathState, head uint64, ptrSize int) WindowVerdict {
	v := WindowVerdict{}
	pendingField := head + 2*uint64(ptrSize)
	if st.Mode != 32 && st.Mode != 64 {
		v.Reason = fmt.Sprintf("unsupported mode %d", st.Mode)
		return v
	}
	seen := map[uint64]bool{}
	ptr := uint64(st.Mode / 8)
	sp0, haveSP := uint64(0), false
	if st.Reg != nil {
		sp0, haveSP = st.Reg(x86asm.RSP)
	}
	work := []pathState{{ip: st.IP, clobbered: map[x86asm.Reg]bool{}, zero: map[x86asm.Reg]bool{}, spKnown: haveSP}}
	clears, releases := 0, 0
	var buf [16]byte
	for len(work) > 0 && v.Explored < maxExplore {
		p := work[len(work)-1]
		work = work[:len(work)-1]
	path:
		for p.steps < maxPathInsns && v.Explored < maxExplore {
			if seen[p.ip] {
				break
			}
			seen[p.ip] = true
			n, err := code.ReadCode(p.ip, buf[:])
			if err != nil || n == 0 {
				break
			}
			inst, err := x86asm.Decode(buf[:n], st.Mode)
			if err != nil {
				break
			}
			v.Explored++
			p.steps++
			next := p.ip + uint64(inst.Len)
			switch classify(inst) {
			case insAtomic:
				releases++
				if v.ReleaseAt == 0 {
					v.ReleaseAt = p.ip
				}
				break path
			case insStore:
				ea, ok := effAddr(inst.Args[0].(x86asm.Mem), st, p, next)
				if ok && ea == head && inst.MemBytes == ptrSize {
					// Linking a mutex into the list: a lock.
					releases++
					if v.ReleaseAt == 0 {
						v.ReleaseAt = p.ip
					}
					break path
				}
				if ok && ea == pendingField && inst.MemBytes == ptrSize {
					if isZeroSource(inst.Args[1], p) {
						clears++
						if v.ClearAt == 0 {
							v.ClearAt = p.ip
						}
					}
					// A non-zero store starts another operation: the
					// thread was not in this unlock's window on this path.
					break path
				}
			case insJump:
				if t, ok := relTarget(inst, next); ok {
					p.ip = t
					continue
				}
				break path
			case insCondJump:
				if t, ok := relTarget(inst, next); ok {
					work = append(work, p.fork(t))
				}
			case insCall:
				if t, ok := relTarget(inst, next); ok && len(p.ret) < maxCallDepth {
					p.ret = append(p.ret, next)
					p.sp -= int64(ptr)
					clobberCallerSaved(&p)
					p.ip = t
					continue
				}
				break path
			case insSyscall:
				clobberSyscall(&p)
			case insRet:
				p.sp += int64(ptr)
				if imm, ok := inst.Args[0].(x86asm.Imm); ok {
					p.sp += int64(imm)
				}
				if len(p.ret) > 0 {
					p.ip = p.ret[len(p.ret)-1]
					p.ret = p.ret[:len(p.ret)-1]
					continue
				}
				// Return through the thread's own stack.
				if !p.spKnown || p.unwinds >= maxUnwinds {
					break path
				}
				var rb [8]byte
				at := sp0 + uint64(p.sp) - ptr
				if n, err := code.ReadCode(at, rb[:ptr]); err != nil || n != int(ptr) {
					break path
				}
				t := uint64(rb[0]) | uint64(rb[1])<<8 | uint64(rb[2])<<16 | uint64(rb[3])<<24
				if ptr == 8 {
					t |= uint64(rb[4])<<32 | uint64(rb[5])<<40 | uint64(rb[6])<<48 | uint64(rb[7])<<56
				}
				p.unwinds++
				p.ip = t
				continue
			case insStop:
				break path
			}
			trackStack(inst, &p, ptr)
			trackRegs(inst, &p)
			p.ip = next
		}
	}
	switch {
	case releases > 0:
		v.Reason = fmt.Sprintf("an atomic operation or a store linking the list lies ahead at %#x: the thread had not released the word", v.ReleaseAt)
	case clears > 0:
		v.InWindow = true
		v.Reason = fmt.Sprintf("the store clearing list_op_pending lies ahead at %#x with no atomic operation before it: the word was already released", v.ClearAt)
	default:
		v.Reason = "no store to list_op_pending ahead: not inside a robust unlock"
	}
	return v
}

type insKind uint8

const (
	insOther insKind = iota
	insAtomic
	insStore
	insJump
	insCondJump
	insCall
	insSyscall
	insRet
	insStop
)

func hasLock(inst x86asm.Inst) bool {
	for _, p := range inst.Prefix {
		if p&0xff == x86asm.PrefixLOCK {
			return true
		}
		if p == 0 {
			break
		}
	}
	return false
}

func memArg(inst x86asm.Inst) bool {
	for _, a := range inst.Args {
		if _, ok := a.(x86asm.Mem); ok {
			return true
		}
	}
	return false
}

func classify(inst x86asm.Inst) insKind {
	switch inst.Op {
	case x86asm.XCHG:
		if memArg(inst) {
			return insAtomic // xchg with memory is always locked
		}
		return insOther
	case x86asm.CMPXCHG, x86asm.CMPXCHG8B, x86asm.CMPXCHG16B, x86asm.XADD, x86asm.ADD, x86asm.SUB,
		x86asm.OR, x86asm.AND, x86asm.XOR, x86asm.INC, x86asm.DEC, x86asm.BTS, x86asm.BTR, x86asm.BTC, x86asm.NEG, x86asm.NOT:
		if hasLock(inst) && memArg(inst) {
			return insAtomic
		}
	case x86asm.MOV:
		if _, ok := inst.Args[0].(x86asm.Mem); ok {
			return insStore
		}
	case x86asm.JMP:
		if _, ok := inst.Args[0].(x86asm.Rel); ok {
			return insJump
		}
		return insStop // indirect: cannot follow
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE,
		x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return insCondJump
	case x86asm.CALL:
		if m, ok := inst.Args[0].(x86asm.Mem); ok && m.Segment == x86asm.GS && m.Base == 0 && m.Index == 0 && m.Disp == 0x10 {
			return insSyscall // i386 glibc: call *%gs:0x10 enters __kernel_vsyscall
		}
		return insCall
	case x86asm.SYSCALL, x86asm.SYSENTER:
		return insSyscall
	case x86asm.INT:
		if imm, ok := inst.Args[0].(x86asm.Imm); ok && imm == 0x80 {
			return insSyscall
		}
		return insStop
	case x86asm.RET:
		return insRet
	case x86asm.HLT, x86asm.UD2, x86asm.UD1, x86asm.UD0:
		return insStop
	}
	return insOther
}

func relTarget(inst x86asm.Inst, next uint64) (uint64, bool) {
	r, ok := inst.Args[0].(x86asm.Rel)
	if !ok {
		return 0, false
	}
	return next + uint64(int64(r)), true
}

// full maps a register to its 64-bit parent (EAX -> RAX, R8D -> R8).
func full(r x86asm.Reg) x86asm.Reg {
	switch {
	case r >= x86asm.AL && r <= x86asm.R15B:
		return lowByte(r)
	case r >= x86asm.AX && r <= x86asm.R15W:
		return x86asm.RAX + (r - x86asm.AX)
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return x86asm.RAX + (r - x86asm.EAX)
	case r >= x86asm.RAX && r <= x86asm.R15:
		return r
	case r == x86asm.EIP || r == x86asm.RIP || r == x86asm.IP:
		return x86asm.RIP
	}
	return r
}

func lowByte(r x86asm.Reg) x86asm.Reg {
	switch r {
	case x86asm.AL, x86asm.AH:
		return x86asm.RAX
	case x86asm.CL, x86asm.CH:
		return x86asm.RCX
	case x86asm.DL, x86asm.DH:
		return x86asm.RDX
	case x86asm.BL, x86asm.BH:
		return x86asm.RBX
	case x86asm.SPB:
		return x86asm.RSP
	case x86asm.BPB:
		return x86asm.RBP
	case x86asm.SIB:
		return x86asm.RSI
	case x86asm.DIB:
		return x86asm.RDI
	}
	if r >= x86asm.R8B && r <= x86asm.R15B {
		return x86asm.R8 + (r - x86asm.R8B)
	}
	return r
}

// effAddr computes a memory operand's address with the registers the
// thread had at its death, if none of them changed on the way.
func effAddr(m x86asm.Mem, st DeathState, p pathState, next uint64) (uint64, bool) {
	var ea uint64
	switch m.Segment {
	case x86asm.FS, x86asm.GS:
		if (m.Segment == x86asm.FS) != (st.Mode == 64) {
			return 0, false // the thread pointer is %fs on x86-64, %gs on i386
		}
		ea = st.ThreadPointer
	case 0, x86asm.DS, x86asm.SS:
	default:
		return 0, false
	}
	reg := func(r x86asm.Reg) (uint64, bool) {
		if r == 0 {
			return 0, true
		}
		f := full(r)
		if f == x86asm.RIP {
			return next, true
		}
		if p.clobbered[f] || st.Reg == nil {
			return 0, false
		}
		return st.Reg(f)
	}
	b, ok := reg(m.Base)
	if !ok {
		return 0, false
	}
	i, ok := reg(m.Index)
	if !ok {
		return 0, false
	}
	ea += b + i*uint64(m.Scale) + uint64(m.Disp)
	if st.Mode == 32 {
		ea = uint64(uint32(ea))
	}
	return ea, true
}

func isZeroSource(a x86asm.Arg, p pathState) bool {
	switch a := a.(type) {
	case x86asm.Imm:
		return a == 0
	case x86asm.Reg:
		return p.zero[full(a)]
	}
	return false
}

// trackRegs records which registers an instruction writes (and which it
// sets to zero), so that later address computations do not use stale
// values.
func trackRegs(inst x86asm.Inst, p *pathState) {
	if len(inst.Args) == 0 || inst.Args[0] == nil {
		return
	}
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.PUSH, x86asm.BT:
		return
	}
	dst, ok := inst.Args[0].(x86asm.Reg)
	if !ok {
		return
	}
	f := full(dst)
	p.clobbered[f] = true
	zero := false
	if (inst.Op == x86asm.XOR || inst.Op == x86asm.SUB) && inst.Args[1] != nil {
		if src, ok := inst.Args[1].(x86asm.Reg); ok && full(src) == f {
			zero = true
		}
	}
	if inst.Op == x86asm.MOV {
		if imm, ok := inst.Args[1].(x86asm.Imm); ok && imm == 0 {
			zero = true
		}
	}
	p.zero[f] = zero
	if inst.Op == x86asm.XCHG {
		if src, ok := inst.Args[1].(x86asm.Reg); ok {
			p.clobbered[full(src)] = true
			p.zero[full(src)] = false
		}
	}
}

func clobberCallerSaved(p *pathState) {
	for _, r := range []x86asm.Reg{x86asm.RAX, x86asm.RCX, x86asm.RDX, x86asm.RSI, x86asm.RDI, x86asm.R8, x86asm.R9, x86asm.R10, x86asm.R11} {
		p.clobbered[r] = true
		p.zero[r] = false
	}
}

func clobberSyscall(p *pathState) {
	for _, r := range []x86asm.Reg{x86asm.RAX, x86asm.RCX, x86asm.R11} {
		p.clobbered[r] = true
		p.zero[r] = false
	}
}

// trackStack follows the stack pointer through pushes, pops and
// adjustments by constants; anything else makes it unknown.
func trackStack(inst x86asm.Inst, p *pathState, ptr uint64) {
	switch inst.Op {
	case x86asm.PUSH:
		p.sp -= int64(ptr)
		return
	case x86asm.POP:
		p.sp += int64(ptr)
		if r, ok := inst.Args[0].(x86asm.Reg); ok && full(r) == x86asm.RSP {
			p.spKnown = false
		}
		return
	}
	r, ok := inst.Args[0].(x86asm.Reg)
	if !ok || full(r) != x86asm.RSP {
		return
	}
	imm, isImm := inst.Args[1].(x86asm.Imm)
	switch {
	case inst.Op == x86asm.ADD && isImm:
		p.sp += int64(imm)
	case inst.Op == x86asm.SUB && isImm:
		p.sp -= int64(imm)
	case inst.Op == x86asm.CMP || inst.Op == x86asm.TEST:
	default:
		p.spKnown = false
	}
}

// Lookup adapts a register file to DeathState.Reg: the value of a 64-bit
// general-purpose register named the way x86asm names it.
func (r *Regs) Lookup(reg x86asm.Reg) (uint64, bool) {
	f := full(reg)
	if f < x86asm.RAX || f > x86asm.R15 {
		return 0, false
	}
	// x86asm numbers RAX..R15 in encoding order, as Reg does.
	return r.Get(Reg(f - x86asm.RAX)), true
}

// x86regOf names a Reg the way x86asm does.
func x86regOf(g Reg) x86asm.Reg { return x86asm.RAX + x86asm.Reg(g) }
