//go:build linux && amd64

package adapter

import (
	"debug/elf"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	"github.com/fexrl/fexrl/emulator-shim/seccomp"
	"github.com/fexrl/fexrl/internal/hostcap"
)

// The launcher is this same binary, re-executed by the tracer with
// launchEnv set: it waits until the tracer has seized it, installs the
// seccomp filter on its main thread and execs the guest, which inherits
// the filter. The filter is what makes the kernel stop the guest at the
// robust-list and lifecycle syscalls only.
const (
	launchEnv   = "FEXRL_ADAPTER_LAUNCH"
	launchPath  = "FEXRL_ADAPTER_PATH"
	launchGo    = 3 // fd of the pipe the tracer closes once it has seized us
	launchReady = 4 // fd of the pipe we close once we run main
)

func init() {
	// Keep the main goroutine on the main thread: it is the thread the
	// tracer seizes, so it must be the one that installs the filter and
	// calls execve.
	if os.Getenv(launchEnv) != "" {
		runtime.LockOSThread()
	}
}

// RunLauncherIfRequested turns this process into the guest when the
// tracer started it as a launcher, and returns otherwise. Programs that
// use Run (the fexrl command, and test binaries through TestMain) must
// call it first thing in main.
func RunLauncherIfRequested() {
	if os.Getenv(launchEnv) == "" {
		return
	}
	code := launch()
	os.Exit(code)
}

// filterRules are the syscalls the guest stops at, for both x86 ABIs:
// the robust-list syscalls (including the proposed ones), the task
// lifecycle, futex calls that carry FUTEX_ROBUST_UNLOCK, and waits with
// WNOHANG (see reapPending).
func filterRules() []seccomp.ArchRule {
	rule := func(a abi.Arch) seccomp.ArchRule {
		s := a.Syscalls
		masks := []seccomp.ArgMask{{Nr: s.Futex, Arg: 1, Mask: abi.FutexRobustUnlock | abi.FutexRobustList32}}
		for _, w := range waitCalls(a) {
			masks = append(masks, seccomp.ArgMask{Nr: w.nr, Arg: w.optionsArg, Mask: unix.WNOHANG})
		}
		return seccomp.ArchRule{
			AuditArch: a.AuditArch,
			Syscalls: []int{s.SetRobustList, s.GetRobustList, s.SetRobustList2, s.GetRobustList2,
				s.Exit, s.ExitGroup, s.Execve, s.Execveat},
			ArgMasks: masks,
		}
	}
	return []seccomp.ArchRule{rule(x86_64.Arch()), rule(x86_32.Arch())}
}

func launch() int {
	// Tell the tracer we are past our own exec (it must not seize us in
	// the middle of it), then wait until it has seized this thread.
	_ = unix.Close(launchReady)
	var b [1]byte
	for {
		_, err := unix.Read(launchGo, b[:])
		if err != unix.EINTR {
			break
		}
	}
	_ = unix.Close(launchGo)
	path := os.Getenv(launchPath)
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, launchEnv+"=") && !strings.HasPrefix(kv, launchPath+"=") {
			env = append(env, kv)
		}
	}
	prog, err := seccomp.Build(filterRules())
	if err == nil {
		err = seccomp.Install(prog)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fexrl: %v\n", err)
		return 125
	}
	err = unix.Exec(path, os.Args, env)
	if err == syscall.ENOEXEC && isI386(path) {
		// Say why: the host, not the program, is at fault.
		fmt.Fprintf(os.Stderr, "fexrl: %s: an i386 program, and %v\n", path, hostcap.ErrNoI386)
		return 126
	}
	fmt.Fprintf(os.Stderr, "fexrl: %s: %v\n", path, err)
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}

// isI386 reports whether path is a 32-bit x86 ELF file.
func isI386(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == elf.ELFCLASS32 && f.Machine == elf.EM_386
}
