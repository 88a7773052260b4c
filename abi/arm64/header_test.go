//go:build linux && (amd64 || 386)

package arm64_test

import (
	"testing"

	"github.com/fexrl/fexrl/abi/arm64"
	"github.com/fexrl/fexrl/abi/internal/abitest"
)

// TestAgainstKernelHeaders compiles the generic syscall table that arm64
// uses (include/uapi/asm-generic/unistd.h, with the __ARCH_WANT_* macros
// of arch/arm64/include/uapi/asm/unistd.h) with the host's gcc and a
// 64-bit long, and compares every number. The struct layout of a 64-bit
// head is the same on every LP64 target, so -m64 checks it too.
func TestAgainstKernelHeaders(t *testing.T) {
	a := arm64.Arch()
	exprs := abitest.HeaderExprs()
	for n, e := range abitest.SyscallExprs(a) {
		exprs[n] = e
	}
	exprs["audit_arch"] = "AUDIT_ARCH_AARCH64"
	flags := []string{"-m64", "-D__ARCH_WANT_RENAMEAT", "-D__ARCH_WANT_NEW_STAT", "-D__ARCH_WANT_SET_GET_RLIMIT",
		"-D__ARCH_WANT_TIME32_SYSCALLS", "-D__ARCH_WANT_SYS_CLONE3"}
	got := abitest.CValues(t, flags, []string{"<asm-generic/unistd.h>", "<linux/futex.h>", "<linux/audit.h>"}, exprs)
	if _, ok := got["fork"]; ok {
		t.Error("the generic table has __NR_fork")
	}
	abitest.Compare(t, a, "the generic kernel syscall table", got)
}
