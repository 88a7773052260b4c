package hostcap

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestTinyI386IsAnI386Executable(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(tinyI386()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS32 || f.Machine != elf.EM_386 || f.Type != elf.ET_EXEC || len(f.Progs) != 1 {
		t.Fatalf("class %v machine %v type %v progs %d", f.Class, f.Machine, f.Type, len(f.Progs))
	}
}

// TestI386AgreesWithGCC checks the answer against a program gcc -m32
// built, when gcc can build one: both run, or neither does.
func TestI386AgreesWithGCC(t *testing.T) {
	err := I386()
	if err != nil && !errors.Is(err, ErrNoI386) {
		t.Fatalf("the check could not be made: %v", err)
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		// An arm64 test binary (under qemu-aarch64 on an x86-64 machine):
		// an arm64 host never runs i386 code, whatever the machine below
		// the emulator does with gcc's program.
		if !errors.Is(err, ErrNoI386) {
			t.Fatalf("I386() on %s = %v, want ErrNoI386", runtime.GOARCH, err)
		}
		return
	}
	dir := t.TempDir()
	src, bin := dir+"/x.c", dir+"/x"
	if err := os.WriteFile(src, []byte("int main(void) { return 7; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, cerr := exec.Command("gcc", "-m32", "-static", "-o", bin, src).CombinedOutput(); cerr != nil {
		t.Skipf("gcc -m32 cannot build here (gcc-multilib missing?): %v\n%s", cerr, out)
	}
	runErr := exec.Command(bin).Run()
	var ee *exec.ExitError
	ran := errors.As(runErr, &ee) && ee.ExitCode() == 7
	if ran != (err == nil) {
		t.Fatalf("I386() = %v, but gcc's program: %v", err, runErr)
	}
	t.Logf("I386() = %v", err)
}

// TestTinyI386RunsUnderQEMU runs the probe program under qemu-i386, which
// needs no kernel support: it must exit 0, or I386 could never say yes.
func TestTinyI386RunsUnderQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-i386-static")
	if err != nil {
		t.Skip("qemu-i386-static is not installed (scripts/setup installs it)")
	}
	path := t.TempDir() + "/exit0"
	if err := os.WriteFile(path, tinyI386(), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemu, path).CombinedOutput(); err != nil {
		t.Fatalf("qemu-i386 %s: %v\n%s", path, err, out)
	}
}
