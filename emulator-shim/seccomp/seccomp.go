// Package seccomp builds and installs the classic-BPF seccomp filter that
// makes the kernel stop a traced guest (SECCOMP_RET_TRACE) at exactly the
// syscalls fexrl handles, per syscall ABI: a 32-bit guest's syscalls
// arrive with AUDIT_ARCH_I386 and i386 numbers even on an x86-64 kernel,
// so the filter checks seccomp_data.arch before it looks at a number.
package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16 // args[i] at 16+8*i; the low 32 bits first (little endian)
)

// ArchRule lists what to trap for one audit arch.
type ArchRule struct {
	// AuditArch is the AUDIT_ARCH_* value of the ABI.
	AuditArch uint32
	// Syscalls are trapped unconditionally.
	Syscalls []int
	// ArgMasks trap a syscall only when the low 32 bits of one argument
	// have any bit of Mask set (e.g. futex with FUTEX_ROBUST_UNLOCK in op).
	ArgMasks []ArgMask
}

// ArgMask traps syscall Nr when args[Arg] & Mask != 0 (low 32 bits).
type ArgMask struct {
	Nr   int
	Arg  int
	Mask uint32
}

// Data is the 16-bit SECCOMP_RET_DATA the filter attaches to every trap;
// the tracer reads it with PTRACE_GETEVENTMSG.
const Data = 0xfe1

// MaxInsns is the kernel's limit on a filter's length (BPF_MAXINSNS).
const MaxInsns = 4096

// Build returns a filter that traps the rules' syscalls and allows
// everything else (including every syscall of an audit arch no rule
// names, and x32 syscalls, whose numbers have bit 30 set).
func Build(rules []ArchRule) ([]unix.SockFilter, error) {
	var prog []unix.SockFilter
	add := func(code uint16, jt, jf uint8, k uint32) {
		prog = append(prog, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	}
	// Forward jumps are patched once the targets are known: "allow" and
	// "trace" are the last two instructions.
	type fix struct {
		at     int
		target string // "allow", "trace" or "next"
		isTrue bool
	}
	var fixes []fix
	jeq := func(k uint32, onTrue string) {
		fixes = append(fixes, fix{len(prog), onTrue, true})
		add(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, 0, k)
	}
	ld := func(off uint32) { add(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 0, 0, off) }

	for _, r := range rules {
		// if arch != r.AuditArch goto next rule
		ld(offArch)
		archAt := len(prog)
		add(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, 0, r.AuditArch)
		ld(offNr)
		for _, nr := range r.Syscalls {
			if nr < 0 {
				return nil, fmt.Errorf("seccomp: bad syscall number %d", nr)
			}
			jeq(uint32(nr), "trace")
		}
		for _, m := range r.ArgMasks {
			if m.Arg < 0 || m.Arg > 5 || m.Nr < 0 {
				return nil, fmt.Errorf("seccomp: bad argument rule %+v", m)
			}
			// if nr != m.Nr skip the next three instructions
			add(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, 3, uint32(m.Nr))
			ld(uint32(offArgs + 8*m.Arg))
			fixes = append(fixes, fix{len(prog), "trace", true})
			add(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, 0, 0, m.Mask)
			ld(offNr)
		}
		fixes = append(fixes, fix{len(prog), "allow", false})
		add(unix.BPF_JMP|unix.BPF_JA, 0, 0, 0)
		// Patch the arch check: false -> next rule.
		prog[archAt].Jf = uint8(len(prog) - archAt - 1)
		if len(prog)-archAt-1 > 255 {
			return nil, errors.New("seccomp: too many syscalls for one arch")
		}
	}
	allow := len(prog)
	add(unix.BPF_RET|unix.BPF_K, 0, 0, unix.SECCOMP_RET_ALLOW)
	trace := len(prog)
	add(unix.BPF_RET|unix.BPF_K, 0, 0, unix.SECCOMP_RET_TRACE|Data)
	for _, f := range fixes {
		target := allow
		if f.target == "trace" {
			target = trace
		}
		off := target - f.at - 1
		switch {
		case prog[f.at].Code == unix.BPF_JMP|unix.BPF_JA:
			prog[f.at].K = uint32(off)
		case off > 255:
			return nil, errors.New("seccomp: filter too long for a conditional jump")
		case f.isTrue:
			prog[f.at].Jt = uint8(off)
		default:
			prog[f.at].Jf = uint8(off)
		}
	}
	if len(prog) > MaxInsns {
		return nil, fmt.Errorf("seccomp: filter has %d instructions, the kernel takes %d", len(prog), MaxInsns)
	}
	return prog, nil
}

// Install sets no_new_privs and installs prog on the calling thread only
// (no TSYNC): the caller must be locked to its OS thread and should exec
// soon after, since every trapped syscall now needs a tracer that asked
// for PTRACE_O_TRACESECCOMP (without one, the kernel fails it with ENOSYS).
func Install(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return errors.New("seccomp: empty filter")
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: PR_SET_NO_NEW_PRIVS: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp: SECCOMP_SET_MODE_FILTER: %w", e)
	}
	return nil
}
