package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// run interprets the subset of classic BPF that Build emits against one
// struct seccomp_data, and returns the filter's verdict.
func run(t *testing.T, prog []unix.SockFilter, nr int32, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], uint32(nr))
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc, steps := 0, 0; ; steps++ {
		if pc >= len(prog) || steps > len(prog) {
			t.Fatalf("filter ran off its end or looped at pc %d", pc)
		}
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
			pc++
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += 1 + int(in.Jt)
			} else {
				pc += 1 + int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if acc&in.K != 0 {
				pc += 1 + int(in.Jt)
			} else {
				pc += 1 + int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JA:
			pc += 1 + int(in.K)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected instruction %+v at %d", in, pc)
		}
	}
}

const (
	archI386  = 0x40000003
	archX8664 = 0xc000003e
	archARM64 = 0xc00000b7
	trace     = unix.SECCOMP_RET_TRACE | Data
	allow     = unix.SECCOMP_RET_ALLOW
)

func TestBuild(t *testing.T) {
	prog, err := Build([]ArchRule{
		{AuditArch: archX8664, Syscalls: []int{273, 274, 60, 231}, ArgMasks: []ArgMask{{Nr: 202, Arg: 1, Mask: 512}}},
		{AuditArch: archI386, Syscalls: []int{311, 312, 1, 252}, ArgMasks: []ArgMask{{Nr: 240, Arg: 1, Mask: 512}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		nr   int32
		arch uint32
		args [6]uint64
		want uint32
	}{
		{"x86_64 set_robust_list", 273, archX8664, [6]uint64{}, trace},
		{"x86_64 exit_group", 231, archX8664, [6]uint64{}, trace},
		{"x86_64 getpid", 39, archX8664, [6]uint64{}, allow},
		{"x86_64 number 311 is not i386's", 311, archX8664, [6]uint64{}, allow},
		{"i386 set_robust_list", 311, archI386, [6]uint64{}, trace},
		{"i386 exit", 1, archI386, [6]uint64{}, trace},
		{"i386 number 273 is not x86_64's", 273, archI386, [6]uint64{}, allow},
		{"x86_64 futex wake", 202, archX8664, [6]uint64{0, 1}, allow},
		{"x86_64 futex robust unlock", 202, archX8664, [6]uint64{0, 1 | 512 | 128}, trace},
		{"x86_64 futex flag only in the high half", 202, archX8664, [6]uint64{0, 512 << 32}, allow},
		{"i386 futex robust unlock", 240, archI386, [6]uint64{0, 512 | 1024}, trace},
		{"i386 futex wait", 240, archI386, [6]uint64{0, 0}, allow},
		{"x86_64 number after futex rule", 60, archX8664, [6]uint64{}, trace},
		{"x32 set_robust_list", 0x40000000 | 530, archX8664, [6]uint64{}, allow},
		{"other arch", 99, archARM64, [6]uint64{}, allow},
	}
	for _, tt := range tests {
		if got := run(t, prog, tt.nr, tt.arch, tt.args); got != tt.want {
			t.Errorf("%s: verdict %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []ArchRule
	}{
		{"negative syscall", []ArchRule{{AuditArch: archX8664, Syscalls: []int{-1}}}},
		{"bad arg index", []ArchRule{{AuditArch: archX8664, ArgMasks: []ArgMask{{Nr: 202, Arg: 6, Mask: 1}}}}},
		{"too many for one jump", []ArchRule{{AuditArch: archX8664, Syscalls: make([]int, 300)}}},
	}
	for _, tt := range tests {
		if _, err := Build(tt.rules); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
