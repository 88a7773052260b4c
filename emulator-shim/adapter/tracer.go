//go:build linux && amd64

// Package adapter runs a real i386 or x86-64 guest binary natively on an
// x86-64 host under ptrace, with its robust-list syscalls and task
// lifecycle routed through the shim, so that fexrl does for the guest
// exactly what an emulator on an arm64 host without kernel support has to
// do: answer set_robust_list and friends itself and walk the lists when a
// guest thread exits, execs or is killed.
//
// A seccomp filter (SECCOMP_RET_TRACE, per audit arch) stops the guest at
// the robust-list syscalls, exit, exit_group, execve and execveat only;
// ptrace's clone, fork, vfork, exec and exit events follow every thread
// and child process and see deaths by signal. In ModeNative the same
// syscalls go to the host kernel untouched: the oracle, with the same
// tracing overhead.
package adapter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// Mode selects who handles the guest's robust lists.
type Mode uint8

// The modes.
const (
	// ModeEmulated: fexrl answers the robust-list syscalls and walks the
	// lists, as on an arm64 host without kernel support. The host kernel
	// never sees the guest's lists.
	ModeEmulated Mode = iota
	// ModeNative: the syscalls go to the host kernel (the oracle).
	ModeNative
)

// String returns "emulated" or "native".
func (m Mode) String() string {
	if m == ModeNative {
		return "native"
	}
	return "emulated"
}

// ParseMode parses "emulated" or "native".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "emulated", "":
		return ModeEmulated, nil
	case "native":
		return ModeNative, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want emulated or native)", s)
}

// RobustUnlock says who performs a guest futex call carrying
// FUTEX_ROBUST_UNLOCK.
type RobustUnlock int

const (
	// RobustUnlockAuto asks the host kernel once, when Run starts: the
	// host if it has the flag, fexrl otherwise.
	RobustUnlockAuto RobustUnlock = iota
	// RobustUnlockEmulate: fexrl performs it, whatever the host has.
	RobustUnlockEmulate
	// RobustUnlockHost: the host kernel does, with FUTEX_ROBUST_LIST32
	// added for 32-bit guests (a host without the flag then answers
	// ENOSYS, as it does natively).
	RobustUnlockHost
)

func (r RobustUnlock) String() string {
	switch r {
	case RobustUnlockEmulate:
		return "emulate"
	case RobustUnlockHost:
		return "host"
	}
	return "auto"
}

// ParseRobustUnlock parses auto, emulate or host.
func ParseRobustUnlock(s string) (RobustUnlock, error) {
	switch s {
	case "auto", "":
		return RobustUnlockAuto, nil
	case "emulate":
		return RobustUnlockEmulate, nil
	case "host":
		return RobustUnlockHost, nil
	}
	return 0, fmt.Errorf("unknown robust unlock choice %q (want auto, emulate or host)", s)
}

// Options configure Run.
type Options struct {
	// Mode is emulated (the default) or native.
	Mode Mode
	// Logger receives structured logs; nil means none.
	Logger *zap.Logger
	// Stdin, Stdout and Stderr are the guest's; nil means fexrl's own.
	Stdin, Stdout, Stderr *os.File
	// Env is the guest's environment; nil means fexrl's own.
	Env []string
	// Dir is the guest's working directory; "" means fexrl's.
	Dir string
	// RobustUnlock says who performs guest robust unlocks (emulated
	// mode; native mode always leaves them to the host).
	RobustUnlock RobustUnlock
	// Shim configures the robust-list layer (walk options, list limit,
	// set_robust_list2 for guests). Memory, Waker and Logger are set by Run.
	Shim shim.Config
	// ForwardSignals forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
	// and SIGUSR2 received by this process to the guest; the second of
	// SIGINT, SIGTERM, SIGHUP and SIGQUIT is sent as SIGKILL.
	ForwardSignals bool
	// OnWalk hears every list walk.
	OnWalk func(WalkEvent)
	// OnSyscall hears every trapped syscall and its answer.
	OnSyscall func(SyscallEvent)
	// OnTask hears every guest task start, clone, exec and exit; an exit
	// or exec is reported once its walks are done, with them.
	OnTask func(TaskEvent)
	// CaptureMemory records in each WalkEvent the guest memory the walk
	// read, as it was before fexrl wrote anything (for traces).
	CaptureMemory bool
}

// TaskEvent is a guest task's start, clone, exec or exit.
type TaskEvent struct {
	// Kind is "start", "clone", "exec" or "exit".
	Kind   string `json:"kind"`
	TID    int32  `json:"tid"`
	TGID   int32  `json:"tgid"`
	Parent int32  `json:"parent,omitempty"`
	// ABI is the task's code size when known: "x86_32" or "x86_64".
	ABI string `json:"abi,omitempty"`
	// Flags are a clone's flags.
	Flags uint64 `json:"flags,omitempty"`
	// Cause is an exit's cause.
	Cause string `json:"cause,omitempty"`
	// IP, SP and ThreadPointer are an exit's registers, when known.
	IP            uint64 `json:"ip,omitempty"`
	SP            uint64 `json:"sp,omitempty"`
	ThreadPointer uint64 `json:"thread_pointer,omitempty"`
	// GPR are the same exit's registers in full (general-purpose ones,
	// RIP, RFLAGS, segment bases), as PTRACE_GETREGS read them for the
	// unlock-window check, which reads every register from them; for a
	// 32-bit task their low halves are the i386 registers. Nil when the
	// registers were not read: an exit the task asked for, an exec.
	GPR *translator.Regs `json:"gpr,omitempty"`
	// Former is the TID an exec'ing thread had before it took over the
	// thread group leader's.
	Former int32 `json:"former,omitempty"`
	// Walks are the lists an exit or exec walked (or left to the host).
	Walks []robustlist2.ListWalk `json:"walks,omitempty"`
	// Memory is what those walks read, before anything was written
	// (with Options.CaptureMemory), in the order read.
	Memory []MemWord `json:"memory,omitempty"`
}

// MemWord is guest memory a walk read, before anything was written.
type MemWord = guestmem.CapturedWord

// WalkEvent is one list walked because a guest task exited, execed or
// was killed.
type WalkEvent struct {
	TID   int32                `json:"tid"`
	TGID  int32                `json:"tgid"`
	Cause shim.Cause           `json:"cause"`
	Walk  robustlist2.ListWalk `json:"walk"`
	// Memory is what the walk read (with Options.CaptureMemory): the
	// words the task's walks read, before any write, in the order read.
	// Every walk of one death carries the same capture.
	Memory []MemWord `json:"memory,omitempty"`
}

// SyscallEvent is one trapped guest syscall.
type SyscallEvent struct {
	TID     int32     `json:"tid"`
	ABI     string    `json:"abi"`
	Nr      int       `json:"nr"`
	Name    string    `json:"name"`
	Args    [6]uint64 `json:"args"`
	Handled bool      `json:"handled"`
	Ret     int64     `json:"ret"`
}

// Result is how the guest ended and what fexrl did.
type Result struct {
	// ExitCode is the guest's exit status, or 128+N if signal N killed it,
	// as a shell reports it.
	ExitCode int
	// Signal is the signal that killed the guest, or 0.
	Signal syscall.Signal
	// Stats are the shim's counters.
	Stats shim.Stats
	// Tasks counts the guest threads and processes traced.
	Tasks int
	// Duration is the guest's wall-clock run time.
	Duration time.Duration
}

// ErrNotFound is returned when the guest program cannot be found.
var ErrNotFound = errors.New("program not found")

// ErrNotExecutable is returned when the guest program exists but cannot
// be run (a directory, a file without execute permission).
var ErrNotExecutable = errors.New("program not executable")

// Run starts argv[0] (looked up in PATH) under the adapter and returns
// when the guest process and every process it created have ended.
func Run(ctx context.Context, argv []string, opts Options) (*Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("no program to run")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", argv[0], ErrNotFound)
		}
		// There, but not something to run: a directory, no x bit.
		return nil, fmt.Errorf("%s: %w (%v)", argv[0], ErrNotExecutable, err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the fexrl binary to launch the guest: %w", err)
	}
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		// Every ptrace request must come from the thread that attached;
		// this goroutine keeps its thread until the guest is gone, and the
		// thread dies with it.
		runtime.LockOSThread()
		t := newTracer(opts)
		res, err := t.run(ctx, self, path, argv)
		done <- outcome{res, err}
	}()
	o := <-done
	return o.res, o.err
}

// tracer is the state of one Run; all of it lives on the tracer thread.
type tracer struct {
	opts Options
	log  *zap.Logger
	shim *shim.Shim
	// hostUnlock: guest robust unlocks pass through to the host kernel.
	hostUnlock bool
	tasks      map[int32]*task
	mms        map[int]*mmGroup
	mmSeq      int
	// queue holds wait statuses collected while waiting for specific
	// tasks (stopping the world, injecting a syscall); the main loop
	// handles them before it waits again.
	queue    []waitEvent
	mainPid  int32
	mainDone bool
	mainWS   unix.WaitStatus
	nTasks   int
	abi32    abi.Arch
	abi64    abi.Arch
	options  int
	walkCtx  *walkContext
}

type waitEvent struct {
	tid int32
	ws  unix.WaitStatus
}

func newTracer(opts Options) *tracer {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t := &tracer{
		opts:  opts,
		log:   log,
		tasks: map[int32]*task{},
		mms:   map[int]*mmGroup{},
		abi32: x86_32.Arch(),
		abi64: x86_64.Arch(),
		options: unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL |
			unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
			unix.PTRACE_O_TRACEEXIT | unix.PTRACE_O_TRACESYSGOOD,
	}
	cfg := opts.Shim
	cfg.Logger = log
	cfg.Memory, cfg.Waker = nil, nil
	cfg.OnWalk = nil
	t.shim = shim.New(cfg)
	switch opts.RobustUnlock {
	case RobustUnlockHost:
		t.hostUnlock = true
	case RobustUnlockAuto:
		t.hostUnlock = robustlist2.ProbeHost(nil).RobustUnlock
	}
	log.Debug("robust unlock", zap.Stringer("choice", opts.RobustUnlock), zap.Bool("host_performs", t.hostUnlock))
	return t
}

func (t *tracer) run(ctx context.Context, self, path string, argv []string) (*Result, error) {
	start := time.Now()
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		return nil, err
	}
	env := t.opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := &exec.Cmd{
		Path:       self,
		Args:       argv,
		Env:        append(append([]string{}, env...), launchEnv+"=1", launchPath+"="+path),
		Dir:        t.opts.Dir,
		Stdin:      orStd(t.opts.Stdin, os.Stdin),
		Stdout:     orStd(t.opts.Stdout, os.Stdout),
		Stderr:     orStd(t.opts.Stderr, os.Stderr),
		ExtraFiles: []*os.File{goR, readyW},
	}
	err = cmd.Start()
	goR.Close()
	readyW.Close()
	if err != nil {
		goW.Close()
		readyR.Close()
		return nil, fmt.Errorf("starting the launcher: %w", err)
	}
	pid := int32(cmd.Process.Pid)
	t.mainPid = pid
	// Wait until the launcher runs its main (seizing it during its own
	// exec would report that exec), then seize its main thread only: it
	// is the one that execs the guest. The guest's threads come in
	// through clone events.
	var b [1]byte
	_, _ = readyR.Read(b[:])
	readyR.Close()
	if err := seize(int(pid), unix.PTRACE_O_TRACESECCOMP|unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_EXITKILL); err != nil {
		goW.Close()
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return nil, err
	}
	goW.Close() // let the launcher go on
	t.tasks[pid] = &task{tid: pid, tgid: pid, launching: true}

	if t.opts.ForwardSignals {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		defer signal.Stop(sigs)
		stop := make(chan struct{})
		defer close(stop)
		log := t.log
		go func() {
			terms := 0
			for {
				select {
				case s := <-sigs:
					sig := s.(syscall.Signal)
					if sig == unix.SIGINT || sig == unix.SIGTERM || sig == unix.SIGHUP || sig == unix.SIGQUIT {
						terms++
					}
					if terms >= 2 {
						// Asked twice to end: the guest may be ignoring it,
						// or stuck; SIGKILL reaches even stopped tasks.
						log.Warn("second termination signal: killing the guest", zap.Stringer("signal", sig))
						sig = unix.SIGKILL
					}
					_ = unix.Kill(int(pid), sig)
				case <-stop:
					return
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		_ = unix.Kill(int(pid), unix.SIGKILL)
	}()

	if err := t.loop(); err != nil {
		return nil, err
	}
	res := &Result{Stats: t.shim.Stats(), Tasks: t.nTasks, Duration: time.Since(start)}
	switch {
	case !t.mainDone:
		return nil, errors.New("the guest's main process was never reaped")
	case t.mainWS.Exited():
		res.ExitCode = t.mainWS.ExitStatus()
	case t.mainWS.Signaled():
		res.Signal = t.mainWS.Signal()
		res.ExitCode = 128 + int(res.Signal)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// loop handles wait statuses until no tracee is left.
func (t *tracer) loop() error {
	for {
		var ev waitEvent
		if len(t.queue) > 0 {
			ev = t.queue[0]
			t.queue = t.queue[1:]
		} else {
			var ws unix.WaitStatus
			tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECHILD {
				return nil
			}
			if err != nil {
				return fmt.Errorf("wait4: %w", err)
			}
			ev = waitEvent{int32(tid), ws}
		}
		if err := t.handle(ev); err != nil {
			return err
		}
	}
}
