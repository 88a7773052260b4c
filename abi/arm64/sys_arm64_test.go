//go:build linux && arm64

package arm64_test

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/arm64"
	"github.com/fexrl/fexrl/abi/internal/abitest"
)

// nativeHead is struct robust_list_head as this GOARCH lays it out.
type nativeHead struct {
	next        uintptr
	futexOffset int
	pending     uintptr
}

func TestAgainstXSysUnix(t *testing.T) {
	var h nativeHead
	abitest.Compare(t, arm64.Arch(), "x/sys/unix on arm64", map[string]int64{
		"set_robust_list":      unix.SYS_SET_ROBUST_LIST,
		"get_robust_list":      unix.SYS_GET_ROBUST_LIST,
		"futex":                unix.SYS_FUTEX,
		"exit":                 unix.SYS_EXIT,
		"exit_group":           unix.SYS_EXIT_GROUP,
		"execve":               unix.SYS_EXECVE,
		"execveat":             unix.SYS_EXECVEAT,
		"clone":                unix.SYS_CLONE,
		"clone3":               unix.SYS_CLONE3,
		"fork":                 abi.NoSyscall, // x/sys/unix has no SYS_FORK on arm64
		"vfork":                abi.NoSyscall,
		"gettid":               unix.SYS_GETTID,
		"tgkill":               unix.SYS_TGKILL,
		"wait4":                unix.SYS_WAIT4,
		"waitid":               unix.SYS_WAITID,
		"audit_arch":           unix.AUDIT_ARCH_AARCH64,
		"ptr_size":             int64(unsafe.Sizeof(uintptr(0))),
		"head_size":            int64(unsafe.Sizeof(h)),
		"head_next":            int64(unsafe.Offsetof(h.next)),
		"head_futex_offset":    int64(unsafe.Offsetof(h.futexOffset)),
		"head_list_op_pending": int64(unsafe.Offsetof(h.pending)),
	})
}
