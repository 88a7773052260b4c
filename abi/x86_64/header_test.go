//go:build linux && (amd64 || 386)

package x86_64_test

import (
	"testing"

	"github.com/fexrl/fexrl/abi/internal/abitest"
	"github.com/fexrl/fexrl/abi/x86_64"
)

// TestAgainstKernelHeaders compiles the kernel's x86-64 headers with
// gcc -m64 and compares every number.
func TestAgainstKernelHeaders(t *testing.T) {
	a := x86_64.Arch()
	exprs := abitest.HeaderExprs()
	for n, e := range abitest.SyscallExprs(a) {
		exprs[n] = e
	}
	exprs["audit_arch"] = "AUDIT_ARCH_X86_64"
	got := abitest.CValues(t, []string{"-m64"}, []string{"<asm/unistd_64.h>", "<linux/futex.h>", "<linux/audit.h>"}, exprs)
	abitest.Compare(t, a, "gcc -m64 with the kernel headers", got)
}
