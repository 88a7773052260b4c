package translator

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
)

// MaxInstLen is the longest x86 instruction, prefixes included, in bytes.
// DecodeSite never looks at more bytes than this for the instruction
// itself.
const MaxInstLen = 15

// SiteKind is the kind of instruction a guest enters the kernel with.
type SiteKind uint8

// The syscall instructions DecodeSite recognizes. The zero value,
// SiteInvalid, is what DecodeSite returns with an error.
const (
	// SiteInvalid is not a syscall site.
	SiteInvalid SiteKind = iota
	// SiteInt80 is int $0x80 (cd 80): the i386 ABI with plain register
	// arguments, in 16-, 32- or 64-bit code. From 64-bit code the x86-64
	// kernel still takes the ia32 compat path: i386 numbers, and only the
	// low 32 bits of ebx, ecx, edx, esi, edi and ebp.
	SiteInt80
	// SiteSyscall is syscall (0f 05) in 64-bit code: the x86-64 ABI,
	// arguments in rdi, rsi, rdx, r10, r8 and r9.
	SiteSyscall
	// SiteSyscall32 is syscall (0f 05) in 32-bit code, which only AMD
	// CPUs execute there. The CPU overwrites ecx with the return address,
	// so the vDSO's __kernel_vsyscall saves ecx, edx and ebp on the stack
	// and copies ecx into ebp first ("movl %ecx, %ebp; syscall"). The
	// kernel's entry_SYSCALL_compat (arch/x86/entry/entry_64_compat.S)
	// accordingly stores ebp as pt_regs->cx, so arg2 comes from ebp, and
	// do_fast_syscall_32 then loads pt_regs->bp, arg6, from the 32-bit
	// word at the user stack pointer [esp] (the ebp the vDSO pushed last);
	// if that load faults the syscall fails with EFAULT without running.
	// Arguments: ebx, ebp, edx, esi, edi, [esp]. The kernel returns to the
	// vDSO's int80 landing pad, not after the syscall instruction (see
	// Site.Resume).
	SiteSyscall32
	// SiteSysenter is sysenter (0f 34) in 32-bit code. SYSENTER saves
	// neither the return address nor the stack pointer, so
	// __kernel_vsyscall pushes ecx, edx and ebp and copies esp into ebp
	// ("movl %esp, %ebp; sysenter"). entry_SYSENTER_compat takes the user
	// stack pointer from ebp, and do_fast_syscall_32 loads arg6 from the
	// 32-bit word at [ebp] (again EFAULT if that faults). Arguments: ebx,
	// ecx, edx, esi, edi, [ebp]. Like SiteSyscall32 it returns to the
	// int80 landing pad.
	SiteSysenter
	// SiteVDSOCall is call *%gs:0x10 (65 ff 15 10 00 00 00) in 32-bit
	// code: i386 glibc calling __kernel_vsyscall through the sysinfo slot
	// of its thread control block. For the caller it is a syscall with
	// the i386 register arguments, returning right after the call.
	SiteVDSOCall
)

// String returns a short name for the kind.
func (k SiteKind) String() string {
	switch k {
	case SiteInvalid:
		return "invalid"
	case SiteInt80:
		return "int80"
	case SiteSyscall:
		return "syscall"
	case SiteSyscall32:
		return "syscall32"
	case SiteSysenter:
		return "sysenter"
	case SiteVDSOCall:
		return "vdso-call"
	}
	return fmt.Sprintf("SiteKind(%d)", uint8(k))
}

// Valid reports whether k is one of the syscall site kinds (not
// SiteInvalid, not out of range).
func (k SiteKind) Valid() bool { return k >= SiteInt80 && k <= SiteVDSOCall }

// Site is a decoded syscall instruction: which ABI its syscall uses,
// where the kernel takes each argument from, and how long it is.
type Site struct {
	// Kind is the kind of instruction.
	Kind SiteKind
	// Mode is the CPU mode the site was decoded in: 16, 32 or 64.
	Mode int
	// ABI is the syscall table and calling convention the kernel uses
	// for this site: x86_32 for every kind but SiteSyscall, which is
	// x86_64. The number is always in (e|r)ax; Args says where the
	// arguments are, which for SiteSyscall32 and SiteSysenter is not
	// what ABI.Regs names.
	ABI abi.Arch
	// Args says where the kernel takes arguments 1 to 6 from.
	Args [6]ArgLoc
	// Len is the length of the instruction, prefixes included.
	Len int
	// Resume is the offset from the site, in bytes, at which the guest
	// continues once the syscall is done. It is Len, except for
	// SiteSysenter and SiteSyscall32 followed (after any nop bytes, 0x90)
	// by int $0x80 within the bytes given to DecodeSite: that is the
	// layout of the kernel's __kernel_vsyscall, old and new, and there
	// the kernel resumes at the int80 landing pad right after the
	// int $0x80, which an emulator must not execute a second time.
	Resume int
	// Text is the instruction in GNU (AT&T) syntax, prefixes included.
	Text string
}

// String returns the kind and the instruction text.
func (s Site) String() string {
	return fmt.Sprintf("%s (%s, %d-bit code, %s)", s.Text, s.Kind, s.Mode, s.ABI.Name)
}

// SiteError says why DecodeSite found no syscall site.
type SiteError struct {
	// Mode is the CPU mode asked for.
	Mode int
	// Code is the start of the bytes looked at (at most MaxInstLen).
	Code []byte
	// Inst is the instruction found, in GNU syntax, or "" when the bytes
	// do not decode.
	Inst string
	// Truncated is set when the bytes end inside an instruction, so that
	// more bytes might decode to a syscall site.
	Truncated bool
	// Reason says what is wrong.
	Reason string
}

// Error names the mode, the bytes, the instruction found and the reason.
func (e *SiteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "translator: %d-bit code", e.Mode)
	if len(e.Code) > 0 {
		fmt.Fprintf(&b, " [% x]", e.Code)
	} else {
		b.WriteString(" (no bytes)")
	}
	if e.Inst != "" {
		fmt.Fprintf(&b, " %q", e.Inst)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// DecodeSite decodes the instruction at the start of code, in a CPU mode
// of 16, 32 or 64 bits, and returns the syscall site it is.
//
// Recognized: int $0x80 in every mode; syscall in 64-bit code (x86-64 ABI)
// and in 32-bit code (i386 ABI, AMD's compat SYSCALL); sysenter in 32-bit
// code; and call *%gs:0x10 in 32-bit code. Anything else is a *SiteError:
// another instruction, bytes that do not decode or end too early, a mode
// other than 16, 32 or 64, or a prefix that changes what the CPU does.
//
// Prefixes: segment overrides, 0x66, 0x67 and (in 64-bit code) REX have no
// operand to act on in int $0x80, syscall and sysenter, and every x86 CPU
// ignores them there, so such a site is accepted with its full length.
// LOCK (0xf0) makes any of them #UD, and REP/REPNE (0xf3/0xf2) are
// reserved on non-string instructions (the CPU vendors have turned such
// combinations into new instructions before), so those are rejected. For
// the vDSO call the only segment override allowed is %gs, and 0x66 is
// rejected (it makes a 16-bit call that truncates the return address);
// 0x67 is accepted as long as the operand is still the absolute %gs:0x10.
// Byte sequences that x86asm does not decode (for instance a REX prefix
// followed by a legacy prefix) are rejected even where a CPU would run them.
//
// sysenter in 64-bit code is rejected (AMD CPUs raise #UD; on Intel the
// kernel would resume the task in 32-bit vDSO code), and so are syscall
// and sysenter in 16-bit code, which the kernel also resumes in the 32-bit
// vDSO.
//
// DecodeSite reads at most MaxInstLen bytes for the instruction, and a few
// more when present to find the int $0x80 after a sysenter or a 32-bit
// syscall (see Site.Resume).
func DecodeSite(code []byte, mode int) (Site, error) {
	win := code[:min(len(code), MaxInstLen)]
	fail := func(inst, reason string, truncated bool) (Site, error) {
		return Site{}, &SiteError{Mode: mode, Code: append([]byte(nil), win...), Inst: inst, Truncated: truncated, Reason: reason}
	}
	if mode != 16 && mode != 32 && mode != 64 {
		return fail("", fmt.Sprintf("bad CPU mode %d (want 16, 32 or 64)", mode), false)
	}
	if len(win) == 0 {
		return fail("", "no code bytes", true)
	}
	inst, err := x86asm.Decode(win, mode)
	if err != nil || inst.Op == 0 {
		alt, ok := decodeCompatSyscall(win, mode)
		if !ok {
			if decodesLonger(win, mode) {
				return fail("", fmt.Sprintf("truncated instruction: the %d bytes end inside it", len(win)), true)
			}
			reason := "undecodable bytes"
			if err != nil {
				reason += " (" + err.Error() + ")"
			}
			return fail("", reason, false)
		}
		inst = alt
	}
	text := x86asm.GNUSyntax(inst, 0, nil)
	s := Site{Mode: mode, Len: inst.Len, Resume: inst.Len, Text: text}
	switch inst.Op {
	case x86asm.INT:
		if imm, ok := inst.Args[0].(x86asm.Imm); !ok || imm != 0x80 {
			return fail(text, "not a syscall instruction (only int $0x80 is)", false)
		}
		s.Kind = SiteInt80
	case x86asm.SYSCALL:
		switch mode {
		case 64:
			s.Kind = SiteSyscall
		case 32:
			s.Kind = SiteSyscall32
		default:
			return fail(text, "syscall in 16-bit code is not a Linux syscall site (the kernel resumes in the 32-bit vDSO)", false)
		}
	case x86asm.SYSENTER:
		switch mode {
		case 32:
			s.Kind = SiteSysenter
		case 64:
			return fail(text, "sysenter in 64-bit code is not a Linux syscall site (#UD on AMD; on Intel the kernel resumes in the 32-bit vDSO)", false)
		default:
			return fail(text, "sysenter in 16-bit code is not a Linux syscall site (the kernel resumes in the 32-bit vDSO)", false)
		}
	case x86asm.CALL:
		if reason := notVDSOCall(inst, mode); reason != "" {
			return fail(text, reason, false)
		}
		s.Kind = SiteVDSOCall
	default:
		return fail(text, "not a syscall instruction", false)
	}
	if reason := badPrefix(inst); reason != "" {
		return fail(text, reason, false)
	}
	s.ABI, s.Args = convention(s.Kind)
	if s.Kind == SiteSysenter || s.Kind == SiteSyscall32 {
		s.Resume = landingPad(code, s.Len)
	}
	return s, nil
}

// convention returns the ABI and the argument locations of a site kind.
func convention(k SiteKind) (abi.Arch, [6]ArgLoc) {
	r32 := func(r Reg) ArgLoc { return ArgLoc{Reg: r, Bits: abi.Bits32} }
	m32 := func(r Reg) ArgLoc { return ArgLoc{Reg: r, Bits: abi.Bits32, Mem: true} }
	r64 := func(r Reg) ArgLoc { return ArgLoc{Reg: r, Bits: abi.Bits64} }
	switch k {
	case SiteSyscall:
		return x86_64.Arch(), [6]ArgLoc{r64(RegRDI), r64(RegRSI), r64(RegRDX), r64(RegR10), r64(RegR8), r64(RegR9)}
	case SiteSyscall32:
		return x86_32.Arch(), [6]ArgLoc{r32(RegRBX), r32(RegRBP), r32(RegRDX), r32(RegRSI), r32(RegRDI), m32(RegRSP)}
	case SiteSysenter:
		return x86_32.Arch(), [6]ArgLoc{r32(RegRBX), r32(RegRCX), r32(RegRDX), r32(RegRSI), r32(RegRDI), m32(RegRBP)}
	}
	return x86_32.Arch(), [6]ArgLoc{r32(RegRBX), r32(RegRCX), r32(RegRDX), r32(RegRSI), r32(RegRDI), r32(RegRBP)}
}

// isLegacyPrefix reports whether b is one of the legacy (non-REX)
// instruction prefixes.
func isLegacyPrefix(b byte) bool {
	switch b {
	case 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3:
		return true
	}
	return false
}

// decodeCompatSyscall decodes syscall (0f 05, with legacy prefixes) in 16-
// or 32-bit code, which x86asm does not know outside 64-bit mode because
// Intel CPUs lack it there. It lets x86asm decode the same bytes with
// sysenter (0f 34, the same shape) in place of syscall, so prefixes are
// handled exactly as for the other sites, then renames the instruction.
func decodeCompatSyscall(win []byte, mode int) (x86asm.Inst, bool) {
	if mode == 64 {
		return x86asm.Inst{}, false
	}
	i := 0
	for i < len(win) && isLegacyPrefix(win[i]) {
		i++
	}
	if i+2 > len(win) || win[i] != 0x0f || win[i+1] != 0x05 {
		return x86asm.Inst{}, false
	}
	sub := append([]byte(nil), win[:i+2]...)
	sub[i+1] = 0x34
	inst, err := x86asm.Decode(sub, mode)
	if err != nil || inst.Op != x86asm.SYSENTER || inst.Len != i+2 {
		return x86asm.Inst{}, false
	}
	inst.Op = x86asm.SYSCALL
	return inst, true
}

// decodesLonger reports whether win, padded with zero bytes to MaxInstLen,
// decodes to an instruction longer than win: win ends inside it.
func decodesLonger(win []byte, mode int) bool {
	if len(win) >= MaxInstLen {
		return false
	}
	padded := make([]byte, MaxInstLen)
	copy(padded, win)
	inst, err := x86asm.Decode(padded, mode)
	if err == nil && inst.Op != 0 && inst.Len > len(win) {
		return true
	}
	alt, ok := decodeCompatSyscall(padded, mode)
	return ok && alt.Len > len(win)
}

// badPrefix returns why a prefix of inst disqualifies it as a syscall
// site, or "".
func badPrefix(inst x86asm.Inst) string {
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p&x86asm.PrefixImplicit != 0 {
			continue
		}
		b := uint8(p)
		switch {
		case b == 0xf0:
			return "lock prefix (0xf0): the CPU raises #UD"
		case p&x86asm.PrefixInvalid != 0:
			return fmt.Sprintf("invalid prefix %#02x", b)
		case b == 0xf2 || b == 0xf3:
			return fmt.Sprintf("rep/repne prefix (%#02x): reserved on this instruction", b)
		case b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65:
		case b == 0x66 || b == 0x67:
		case p.IsREX() && inst.Mode == 64:
		default:
			return fmt.Sprintf("unexpected prefix %#02x", b)
		}
	}
	return ""
}

// notVDSOCall returns why the call inst is not call *%gs:0x10 in 32-bit
// code with a 32-bit operand, or "".
func notVDSOCall(inst x86asm.Inst, mode int) string {
	const want = "not the vDSO call (call *%gs:0x10 in 32-bit code)"
	if mode != 32 {
		return want
	}
	m, ok := inst.Args[0].(x86asm.Mem)
	if !ok || m.Segment != x86asm.GS || m.Base != 0 || m.Index != 0 || m.Disp != 0x10 {
		return want
	}
	if inst.DataSize != 32 || inst.MemBytes != 4 {
		return "not the vDSO call: a 16-bit call truncates the return address"
	}
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p&x86asm.PrefixImplicit != 0 {
			continue
		}
		switch uint8(p) {
		case 0x26, 0x2e, 0x36, 0x3e, 0x64:
			return "not the vDSO call: a segment override other than %gs"
		}
	}
	return ""
}

// landingPad returns the offset just past an int $0x80 that follows the
// instruction of length n at the start of code after nothing but nop
// bytes, or n when there is none: where the kernel resumes a sysenter or
// 32-bit syscall made from __kernel_vsyscall.
func landingPad(code []byte, n int) int {
	i := n
	for i < len(code) && i < n+MaxInstLen && code[i] == 0x90 {
		i++
	}
	if i+1 < len(code) && code[i] == 0xcd && code[i+1] == 0x80 {
		return i + 2
	}
	return n
}
