// Package hostcap answers questions about the host that decide what fexrl
// and its tests can do here, by trying the real thing.
package hostcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// ErrNoI386 is wrapped by I386's error when the host kernel refuses to
// run 32-bit x86 programs.
var ErrNoI386 = errors.New("this host kernel does not run 32-bit x86 programs (its ia32 emulation is off: CONFIG_IA32_EMULATION unset, booted with ia32_emulation=off, or a hypervisor such as PVM that has no 32-bit mode)")

// tinyI386 returns a complete static i386 ELF executable that calls
// exit(0) through int $0x80.
func tinyI386() []byte {
	const base, ehsize, phsize = 0x08048000, 52, 32
	code := []byte{
		0xb8, 0x01, 0x00, 0x00, 0x00, // mov $1, %eax (exit)
		0x31, 0xdb, // xor %ebx, %ebx
		0xcd, 0x80, // int $0x80
	}
	size := ehsize + phsize + len(code)
	b := make([]byte, size)
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* little endian */, 1 /* version */})
	le.PutUint16(b[16:], 2)                  // e_type: ET_EXEC
	le.PutUint16(b[18:], 3)                  // e_machine: EM_386
	le.PutUint32(b[20:], 1)                  // e_version
	le.PutUint32(b[24:], base+ehsize+phsize) // e_entry
	le.PutUint32(b[28:], ehsize)             // e_phoff
	le.PutUint16(b[40:], ehsize)             // e_ehsize
	le.PutUint16(b[42:], phsize)             // e_phentsize
	le.PutUint16(b[44:], 1)                  // e_phnum
	ph := b[ehsize:]
	le.PutUint32(ph[0:], 1)             // p_type: PT_LOAD
	le.PutUint32(ph[8:], base)          // p_vaddr
	le.PutUint32(ph[12:], base)         // p_paddr
	le.PutUint32(ph[16:], uint32(size)) // p_filesz
	le.PutUint32(ph[20:], uint32(size)) // p_memsz
	le.PutUint32(ph[24:], 5)            // p_flags: R+X
	le.PutUint32(ph[28:], 0x1000)       // p_align
	copy(b[ehsize+phsize:], code)
	return b
}

// I386 reports whether the host kernel runs 32-bit x86 programs: nil if a
// tiny i386 executable ran and exited 0, an error wrapping ErrNoI386 if
// the kernel refused its format, and another error if the check itself
// could not be made. Hosts that are not x86 never do.
func I386() error {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		return fmt.Errorf("%w: the host is %s", ErrNoI386, runtime.GOARCH)
	}
	dir, err := os.MkdirTemp("", "fexrl-i386-")
	if err != nil {
		return fmt.Errorf("checking for i386 support: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "exit0")
	if err := os.WriteFile(path, tinyI386(), 0o755); err != nil {
		return fmt.Errorf("checking for i386 support: %w", err)
	}
	err = exec.Command(path).Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOEXEC):
		return ErrNoI386
	}
	return fmt.Errorf("checking for i386 support: %w", err)
}
