//go:build linux && (amd64 || 386)

package x86_32_test

import (
	"testing"

	"github.com/fexrl/fexrl/abi/internal/abitest"
	"github.com/fexrl/fexrl/abi/x86_32"
)

// TestAgainstKernelHeaders compiles the kernel's i386 headers with
// gcc -m32 and compares every number.
func TestAgainstKernelHeaders(t *testing.T) {
	a := x86_32.Arch()
	exprs := abitest.HeaderExprs()
	for n, e := range abitest.SyscallExprs(a) {
		exprs[n] = e
	}
	exprs["audit_arch"] = "AUDIT_ARCH_I386"
	got := abitest.CValues(t, []string{"-m32"}, []string{"<asm/unistd_32.h>", "<linux/futex.h>", "<linux/audit.h>"}, exprs)
	abitest.Compare(t, a, "gcc -m32 with the kernel headers", got)
}
