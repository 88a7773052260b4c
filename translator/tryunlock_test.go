package translator

import (
	"fmt"
	"github.com/fexrl/fexrl/internal/hostcap"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/fexrl/fexrl/abi"
)

// TestTryUnlockCodeRuns compiles a small C program around each try-unlock
// function (gcc -m64 or -m32) and runs the machine code for real.
func TestTryUnlockCodeRuns(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		t.Skip("the code is x86 code: it runs on x86 hosts (the arm64 run checks decoding only)")
	}
	tests := []struct {
		mode int
		pop  abi.Bits
		want string
	}{
		{64, abi.Bits64, "uncontended: ret=tid lock=0 slot=0\ncontended: ret=word lock=unchanged slot=0x1122334455667788\n"},
		{64, abi.Bits32, "uncontended: ret=tid lock=0 slot=0x1122334400000000\ncontended: ret=word lock=unchanged slot=0x1122334455667788\n"},
		{32, abi.Bits32, "uncontended: ret=tid lock=0 slot=0x1122334400000000\ncontended: ret=word lock=unchanged slot=0x1122334455667788\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("mode=%d/pop=%d", tt.mode, tt.pop), func(t *testing.T) {
			tu, err := TryUnlockCode(tt.mode, tt.pop)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var h strings.Builder
			h.WriteString("static const unsigned char CODE[] = {")
			for i, b := range tu.Code {
				if i > 0 {
					h.WriteString(", ")
				}
				fmt.Fprintf(&h, "%#02x", b)
			}
			h.WriteString("};\n")
			if err := os.WriteFile(filepath.Join(dir, "tryunlock_code.h"), []byte(h.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, "run")
			out, err := exec.Command("gcc", fmt.Sprintf("-m%d", tt.mode), "-O1", "-I", dir, "-o", bin, filepath.Join("testdata", "tryunlock_run.c")).CombinedOutput()
			if err != nil {
				t.Fatalf("gcc: %v\n%s", err, out)
			}
			run := exec.Command(bin)
			if tt.mode == 32 {
				if err := hostcap.I386(); err != nil {
					// The machine code still runs, on QEMU's i386 CPU.
					qemu, qerr := exec.LookPath("qemu-i386-static")
					if qerr != nil {
						t.Skipf("SKIP: %v, and qemu-i386-static is not installed (scripts/setup installs it)", err)
					}
					t.Logf("running under %s: %v", qemu, err)
					run = exec.Command(qemu, bin)
				}
			}
			out, err = run.CombinedOutput()
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %q (%v), want %q", out, err, tt.want)
			}
		})
	}
}

// TestTryUnlockFixupRange checks the fixup range against the code: it
// starts right after the lock cmpxchg and ends right after the store that
// clears *pop.
func TestTryUnlockFixupRange(t *testing.T) {
	for _, c := range []struct {
		mode int
		pop  abi.Bits
	}{{64, abi.Bits64}, {64, abi.Bits32}, {32, abi.Bits32}} {
		tu, err := TryUnlockCode(c.mode, c.pop)
		if err != nil {
			t.Fatal(err)
		}
		var prev x86asm.Inst
		var clearEnd int
		for pc := 0; pc < len(tu.Code); {
			inst, err := x86asm.Decode(tu.Code[pc:], c.mode)
			if err != nil {
				t.Fatalf("%s: undecodable at %d: %v", tu.Symbol, pc, err)
			}
			if pc == tu.FixupStart && (prev.Op != x86asm.CMPXCHG || !hasLock(prev)) {
				t.Errorf("%s: fixup starts after %v, not after lock cmpxchg", tu.Symbol, prev)
			}
			if inst.Op == x86asm.MOV {
				if m, ok := inst.Args[0].(x86asm.Mem); ok && full(m.Base) == x86regOf(tu.PopReg) && inst.MemBytes == tu.Pop.PtrSize() {
					clearEnd = pc + inst.Len
				}
			}
			prev = inst
			pc += inst.Len
		}
		if clearEnd != tu.FixupEnd {
			t.Errorf("%s: fixup ends at %d, the clear of *pop at %d", tu.Symbol, tu.FixupEnd, clearEnd)
		}
		st := DeathState{Mode: c.mode, IP: 0x1000 + uint64(tu.FixupStart), Flags: zfFlag,
			Reg: func(r x86asm.Reg) (uint64, bool) { return 0xabc0, r == x86asm.RDX }}
		if pop, ok := tu.InFixup(0x1000, st); !ok || pop != 0xabc0 {
			t.Errorf("%s: a death at the fixup start is not in the fixup (%#x %v)", tu.Symbol, pop, ok)
		}
		st.Flags = 0
		if _, ok := tu.InFixup(0x1000, st); ok {
			t.Errorf("%s: a failed cmpxchg (ZF clear) counts as in the fixup", tu.Symbol)
		}
		st.Flags, st.IP = zfFlag, 0x1000+uint64(tu.FixupEnd)
		if _, ok := tu.InFixup(0x1000, st); ok {
			t.Errorf("%s: a death after the clear counts as in the fixup", tu.Symbol)
		}
	}
	if _, err := TryUnlockCode(32, abi.Bits64); err == nil {
		t.Error("an i386 64-bit-slot variant was offered")
	}
}
