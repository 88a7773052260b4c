package translator

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/fexrl/fexrl/abi"
)

// stackMem is guest memory holding a few 32-bit words; any other address
// faults.
type stackMem map[uint64]uint32

var errTestFault = errors.New("test fault")

func (m stackMem) Load32(addr uint64) (uint32, error) {
	v, ok := m[addr]
	if !ok {
		return 0, fmt.Errorf("load at %#x: %w", addr, errTestFault)
	}
	return v, nil
}

// distinctRegs returns registers that all differ, in both halves, so a
// test can tell which register fed which argument and that the upper half
// was dropped where it must be. nr goes in the low half of rax, under
// nonzero upper bits.
func distinctRegs(nr uint32) Regs {
	return Regs{
		RAX: 0xa0a0a0a0_00000000 | uint64(nr),
		RCX: 0xc1c1c1c1_0000c1c1,
		RDX: 0xd2d2d2d2_0000d2d2,
		RBX: 0xb3b3b3b3_0000b3b3,
		// Low halves are the stack addresses the fake memory knows.
		RSP: 0x57575757_00005000,
		RBP: 0xbebebebe_0000b000,
		RSI: 0x5e5e5e5e_00005e5e,
		RDI: 0xd1d1d1d1_0000d1d1,
		R8:  0x08080808_00000808,
		R9:  0x09090909_00000909,
		R10: 0x10101010_00001010,
		R11: 0x11111111_00001111,
		R12: 0x12121212_00001212,
		R13: 0x13131313_00001313,
		R14: 0x14141414_00001414,
		R15: 0x15151515_00001515,
		RIP: 0x00000000_08049000,
	}
}

func TestReadArgs(t *testing.T) {
	mem := stackMem{0x5000: 0xaaaa0006, 0xb000: 0xbbbb0006}
	tests := []struct {
		name string
		code string
		mode int
		nr   uint32
		want [6]uint64
	}{
		{"int80 32-bit", "cd 80", 32, 240,
			[6]uint64{0xb3b3, 0xc1c1, 0xd2d2, 0x5e5e, 0xd1d1, 0xb000}},
		// From 64-bit code the kernel still reads the 32-bit registers.
		{"int80 64-bit", "cd 80", 64, 240,
			[6]uint64{0xb3b3, 0xc1c1, 0xd2d2, 0x5e5e, 0xd1d1, 0xb000}},
		{"int80 16-bit", "cd 80", 16, 240,
			[6]uint64{0xb3b3, 0xc1c1, 0xd2d2, 0x5e5e, 0xd1d1, 0xb000}},
		{"syscall 64-bit", "0f 05", 64, 202,
			[6]uint64{0xd1d1d1d1_0000d1d1, 0x5e5e5e5e_00005e5e, 0xd2d2d2d2_0000d2d2, 0x10101010_00001010, 0x08080808_00000808, 0x09090909_00000909}},
		// arg2 from ebp, arg6 from the word at [esp].
		{"syscall 32-bit", "0f 05", 32, 240,
			[6]uint64{0xb3b3, 0xb000, 0xd2d2, 0x5e5e, 0xd1d1, 0xaaaa0006}},
		// arg6 from the word at [ebp].
		{"sysenter", "0f 34", 32, 240,
			[6]uint64{0xb3b3, 0xc1c1, 0xd2d2, 0x5e5e, 0xd1d1, 0xbbbb0006}},
		{"vdso call", "65 ff 15 10 00 00 00", 32, 240,
			[6]uint64{0xb3b3, 0xc1c1, 0xd2d2, 0x5e5e, 0xd1d1, 0xb000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSite(hexCode(t, tt.code), tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			r := distinctRegs(tt.nr)
			before := r
			if got := s.Number(&r); got != int(tt.nr) {
				t.Errorf("Number = %d, want %d", got, tt.nr)
			}
			got, err := s.ReadArgs(&r, mem)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ReadArgs =\n %#x\nwant\n %#x", got, tt.want)
			}
			if r != before {
				t.Error("reading changed the registers")
			}
		})
	}
}

func TestReadArgsRegisterOnlyNeedsNoMemory(t *testing.T) {
	for _, c := range []struct {
		code string
		mode int
	}{{"cd 80", 32}, {"0f 05", 64}, {"65 ff 15 10 00 00 00", 32}} {
		s, err := DecodeSite(hexCode(t, c.code), c.mode)
		if err != nil {
			t.Fatal(err)
		}
		r := distinctRegs(1)
		if _, err := s.ReadArgs(&r, nil); err != nil {
			t.Errorf("%s: ReadArgs with no memory: %v", c.code, err)
		}
	}
}

func TestReadArgsFault(t *testing.T) {
	tests := []struct {
		name     string
		code     string
		mem      Loader
		wantAddr uint64
		wantLoc  string
		wantErr  error // wrapped cause, or nil for the nil-Loader case
	}{
		{"syscall32 unmapped esp", "0f 05", stackMem{}, 0x5000, "[esp]", errTestFault},
		{"sysenter unmapped ebp", "0f 34", stackMem{0x5000: 1}, 0xb000, "[ebp]", errTestFault},
		{"sysenter nil memory", "0f 34", nil, 0xb000, "[ebp]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSite(hexCode(t, tt.code), 32)
			if err != nil {
				t.Fatal(err)
			}
			r := distinctRegs(240)
			args, err := s.ReadArgs(&r, tt.mem)
			var f *ArgFault
			if !errors.As(err, &f) {
				t.Fatalf("ReadArgs error = %v (%T), want *ArgFault", err, err)
			}
			if f.Arg != 6 || f.Addr != tt.wantAddr || f.Loc.String() != tt.wantLoc {
				t.Errorf("fault arg%d at %s = %#x, want arg6 at %s = %#x", f.Arg, f.Loc, f.Addr, tt.wantLoc, tt.wantAddr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if f.Errno() != syscall.EFAULT {
				t.Errorf("Errno = %v, want EFAULT", f.Errno())
			}
			if !strings.Contains(err.Error(), "arg6") || !strings.Contains(err.Error(), tt.wantLoc) {
				t.Errorf("message %q does not name arg6 at %s", err, tt.wantLoc)
			}
			if args != [6]uint64{} {
				t.Errorf("args = %#x after a fault, want all zero", args)
			}
		})
	}
}

func TestInvalidSite(t *testing.T) {
	var s Site
	r := distinctRegs(240)
	if n := s.Number(&r); n != -1 {
		t.Errorf("Number of the zero Site = %d, want -1", n)
	}
	if _, err := s.ReadArgs(&r, stackMem{}); err == nil {
		t.Error("ReadArgs of the zero Site succeeded")
	}
	if ip := s.NextIP(&r); ip != r.RIP {
		t.Errorf("NextIP of the zero Site = %#x, want RIP %#x", ip, r.RIP)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		name string
		code string
		mode int
		rax  uint64
		want int
	}{
		{"i386 plain", "cd 80", 32, 311, 311},
		{"i386 upper half ignored", "cd 80", 64, 0xffffffff_00000137, 311},
		{"i386 minus one", "cd 80", 32, 0xffffffff, -1},
		{"i386 minus one zero-extended", "0f 34", 32, 0x00000000_ffffffff, -1},
		{"x86-64 plain", "0f 05", 64, 273, 273},
		// entry_SYSCALL_64 sign-extends eax: the upper half is ignored.
		{"x86-64 upper half ignored", "0f 05", 64, 0x00000001_00000111, 273},
		{"x86-64 minus one", "0f 05", 64, 0xffffffff_ffffffff, -1},
		{"x86-64 minus one in eax only", "0f 05", 64, 0x00000000_ffffffff, -1},
		{"x32 bit kept", "0f 05", 64, 0x40000000 | 530, 0x40000000 | 530},
	}
	for _, tt := range tests {
		s, err := DecodeSite(hexCode(t, tt.code), tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		r := Regs{RAX: tt.rax}
		if got := s.Number(&r); got != tt.want {
			t.Errorf("%s: Number(rax=%#x) = %d, want %d", tt.name, tt.rax, got, tt.want)
		}
	}
}

func TestSetReturn(t *testing.T) {
	tests := []struct {
		name string
		code string
		mode int
		ret  int64
		want uint64
	}{
		{"x86-64 success", "0f 05", 64, 3, 3},
		{"x86-64 error", "0f 05", 64, -38, 0xffffffff_ffffffda},
		{"x86-64 large", "0f 05", 64, 0x7f12_3456_7000, 0x7f12_3456_7000},
		// int $0x80 from 64-bit code: the compat path stores the long
		// result whole, so an error has the upper half all ones...
		{"int80 64-bit error", "cd 80", 64, -14, 0xffffffff_fffffff2},
		// ...and a 32-bit value with bit 31 set stays zero-extended.
		{"int80 64-bit high address", "cd 80", 64, 0xf7000000, 0x00000000_f7000000},
		{"int80 32-bit error", "cd 80", 32, -22, 0xffffffff_ffffffea},
		{"sysenter success", "0f 34", 32, 0, 0},
		{"syscall32 error", "0f 05", 32, -4095, 0xffffffff_fffff001},
		{"vdso call tid", "65 ff 15 10 00 00 00", 32, 4242, 4242},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSite(hexCode(t, tt.code), tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			r := distinctRegs(240)
			want := r
			want.RAX = tt.want
			s.SetReturn(&r, tt.ret)
			if r != want {
				t.Errorf("after SetReturn(%d): rax = %#x (regs %+v), want rax %#x and nothing else changed", tt.ret, r.RAX, r, tt.want)
			}
			// What 32-bit code sees, and what a libc makes of it.
			if s.ABI.Bits == abi.Bits32 && int64(int32(uint32(r.RAX))) != int64(int32(tt.ret)) {
				t.Errorf("eax = %#x, want %#x", uint32(r.RAX), uint32(tt.ret))
			}
		})
	}
}

func TestSetErrno(t *testing.T) {
	for _, c := range []struct {
		code string
		mode int
		want uint64
	}{
		{"0f 05", 64, 0xffffffff_ffffffda},
		{"cd 80", 64, 0xffffffff_ffffffda},
		{"cd 80", 32, 0xffffffff_ffffffda},
		{"0f 34", 32, 0xffffffff_ffffffda},
	} {
		s, err := DecodeSite(hexCode(t, c.code), c.mode)
		if err != nil {
			t.Fatal(err)
		}
		r := Regs{RAX: 0x12345678_9abcdef0}
		s.SetErrno(&r, syscall.ENOSYS)
		if r.RAX != c.want {
			t.Errorf("%s in %d-bit code: rax = %#x, want %#x", c.code, c.mode, r.RAX, c.want)
		}
	}
}

func TestErrnoReturn(t *testing.T) {
	tests := []struct {
		e    syscall.Errno
		want int64
	}{
		{syscall.EPERM, -1},
		{syscall.EFAULT, -14},
		{syscall.EINVAL, -22},
		{syscall.ENOSYS, -38},
		{MaxErrno, -4095},
		{0, -22},
		{MaxErrno + 1, -22},
		{0x7fffffff, -22},
	}
	for _, tt := range tests {
		if got := ErrnoReturn(tt.e); got != tt.want {
			t.Errorf("ErrnoReturn(%d) = %d, want %d", uintptr(tt.e), got, tt.want)
		}
	}
}

// TestHostErrnoIsGuestErrno checks, on whatever GOARCH the tests run
// (amd64, 386, arm64), that the host's errno numbers fexrl answers with
// are the x86 guest's: ErrnoReturn passes them through untranslated.
func TestHostErrnoIsGuestErrno(t *testing.T) {
	x86 := []struct {
		name string
		host syscall.Errno
		x86  uintptr
	}{
		{"EPERM", syscall.EPERM, 1},
		{"ESRCH", syscall.ESRCH, 3},
		{"EAGAIN", syscall.EAGAIN, 11},
		{"ENOMEM", syscall.ENOMEM, 12},
		{"EFAULT", syscall.EFAULT, 14},
		{"EINVAL", syscall.EINVAL, 22},
		{"EDEADLK", syscall.EDEADLK, 35},
		{"ENOSYS", syscall.ENOSYS, 38},
		{"ETIMEDOUT", syscall.ETIMEDOUT, 110},
		{"EOWNERDEAD", syscall.EOWNERDEAD, 130},
		{"ENOTRECOVERABLE", syscall.ENOTRECOVERABLE, 131},
	}
	for _, e := range x86 {
		if uintptr(e.host) != e.x86 {
			t.Errorf("%s is %d on this host, %d on x86", e.name, uintptr(e.host), e.x86)
		}
	}
}

func TestNextIP(t *testing.T) {
	tests := []struct {
		name string
		code string
		mode int
		rip  uint64
		want uint64
	}{
		{"syscall", "0f 05", 64, 0x401000, 0x401002},
		{"prefixed syscall", "66 48 0f 05", 64, 0x401000, 0x401004},
		{"no wrap in 64-bit code", "0f 05", 64, 0xffff_fffe, 0x1_0000_0000},
		{"int80", "cd 80", 32, 0x8049000, 0x8049002},
		{"int80 wraps at 4 GiB", "cd 80", 32, 0xffff_ffff, 1},
		{"int80 wraps at 64 KiB in 16-bit code", "cd 80", 16, 0xfffe, 0},
		{"vdso call", "65 ff 15 10 00 00 00", 32, 0x8049000, 0x8049007},
		{"sysenter alone", "0f 34", 32, 0xf7fc1570, 0xf7fc1572},
		{"sysenter to landing pad", "0f 34 cd 80 5d 5a 59 c3", 32, 0xf7fc1570, 0xf7fc1574},
		{"syscall32 to landing pad", "0f 05 cd 80 5d 5a 59 c3", 32, 0xf7fc1570, 0xf7fc1574},
	}
	for _, tt := range tests {
		s, err := DecodeSite(hexCode(t, tt.code), tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		r := Regs{RIP: tt.rip}
		if got := s.NextIP(&r); got != tt.want {
			t.Errorf("%s: NextIP from %#x = %#x, want %#x", tt.name, tt.rip, got, tt.want)
		}
	}
}

func TestRegs(t *testing.T) {
	r := distinctRegs(0)
	want := []uint64{r.RAX, r.RCX, r.RDX, r.RBX, r.RSP, r.RBP, r.RSI, r.RDI,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15}
	for g := RegRAX; g <= RegR15; g++ {
		if got := r.Get(g); got != want[g] {
			t.Errorf("Get(%v) = %#x, want %#x", g, got, want[g])
		}
	}
	if got := r.Get(RegR15 + 1); got != 0 {
		t.Errorf("Get(invalid) = %#x, want 0", got)
	}
}

func TestRegNames(t *testing.T) {
	tests := []struct {
		g        Reg
		n32, n64 string
	}{
		{RegRAX, "eax", "rax"},
		{RegRCX, "ecx", "rcx"},
		{RegRSP, "esp", "rsp"},
		{RegRBP, "ebp", "rbp"},
		{RegRDI, "edi", "rdi"},
		{RegR8, "r8d", "r8"},
		{RegR15, "r15d", "r15"},
		{RegR15 + 1, "Reg(16)", "Reg(16)"},
	}
	for _, tt := range tests {
		if got := tt.g.Name(abi.Bits32); got != tt.n32 {
			t.Errorf("Name(32) = %q, want %q", got, tt.n32)
		}
		if got := tt.g.Name(abi.Bits64); got != tt.n64 {
			t.Errorf("Name(64) = %q, want %q", got, tt.n64)
		}
		if got := tt.g.String(); got != tt.n64 {
			t.Errorf("String() = %q, want %q", got, tt.n64)
		}
	}
}
