//go:build linux && 386

package x86_32_test

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi/internal/abitest"
	"github.com/fexrl/fexrl/abi/x86_32"
)

// nativeHead is struct robust_list_head as this GOARCH lays it out.
type nativeHead struct {
	next        uintptr
	futexOffset int
	pending     uintptr
}

func TestAgainstXSysUnix(t *testing.T) {
	var h nativeHead
	abitest.Compare(t, x86_32.Arch(), "x/sys/unix on 386", map[string]int64{
		"set_robust_list":      unix.SYS_SET_ROBUST_LIST,
		"get_robust_list":      unix.SYS_GET_ROBUST_LIST,
		"futex":                unix.SYS_FUTEX,
		"exit":                 unix.SYS_EXIT,
		"exit_group":           unix.SYS_EXIT_GROUP,
		"execve":               unix.SYS_EXECVE,
		"execveat":             unix.SYS_EXECVEAT,
		"clone":                unix.SYS_CLONE,
		"clone3":               unix.SYS_CLONE3,
		"fork":                 unix.SYS_FORK,
		"vfork":                unix.SYS_VFORK,
		"gettid":               unix.SYS_GETTID,
		"tgkill":               unix.SYS_TGKILL,
		"futex_time64":         unix.SYS_FUTEX_TIME64,
		"waitpid":              unix.SYS_WAITPID,
		"wait4":                unix.SYS_WAIT4,
		"waitid":               unix.SYS_WAITID,
		"audit_arch":           unix.AUDIT_ARCH_I386,
		"ptr_size":             int64(unsafe.Sizeof(uintptr(0))),
		"head_size":            int64(unsafe.Sizeof(h)),
		"head_next":            int64(unsafe.Offsetof(h.next)),
		"head_futex_offset":    int64(unsafe.Offsetof(h.futexOffset)),
		"head_list_op_pending": int64(unsafe.Offsetof(h.pending)),
	})
}
