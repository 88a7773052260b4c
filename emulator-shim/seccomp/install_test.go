//go:build linux && (amd64 || 386)

// The filter is installed for real only where the ptrace adapter runs: an
// x86 host kernel. qemu-user (the arm64 test run) does not implement
// seccomp(2) at all; the interpreter test covers the filter's logic there.

package seccomp

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi/archs"
	"github.com/fexrl/fexrl/internal/testexec"
)

// TestInstallTrapsForReal installs the filter in a child process that has
// no tracer: the kernel then fails every trapped syscall with ENOSYS and
// lets the others through, which shows the filter selects what it should.
func TestInstallTrapsForReal(t *testing.T) {
	if os.Getenv("FEXRL_SECCOMP_CHILD") == "1" {
		runtime.LockOSThread()
		prog, err := Build([]ArchRule{{AuditArch: nativeAuditArch(), Syscalls: []int{unix.SYS_SET_ROBUST_LIST}}})
		if err != nil {
			panic(err)
		}
		if err := Install(prog); err != nil {
			panic(err)
		}
		head := make([]byte, 3*unsafe.Sizeof(uintptr(0)))
		_, _, e1 := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(&head[0])), uintptr(len(head)), 0)
		_, _, e2 := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		os.Stdout.WriteString("set_robust_list=" + errName(e1) + " getpid=" + errName(e2) + "\n")
		os.Exit(0)
	}
	cmd := testexec.Self("-test.run=TestInstallTrapsForReal")
	cmd.Env = append(os.Environ(), "FEXRL_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "set_robust_list=ENOSYS getpid=ok") {
		t.Fatalf("child said %q", out)
	}
}

// nativeAuditArch is the audit arch of the GOARCH the test runs as.
func nativeAuditArch() uint32 {
	for _, a := range archs.All() {
		if a.GOARCH == runtime.GOARCH {
			return a.AuditArch
		}
	}
	panic("no table for " + runtime.GOARCH)
}

func errName(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	return unix.ErrnoName(e)
}
