//go:build linux

package server

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// The guard: a death that runs no code (SIGKILL, the OOM killer, a crash
// of the emulator itself) reports nothing through the client, so nobody
// would walk the dead threads' lists, and waiters in other processes
// would hang. The server, as the emulator's ptrace tracer for exit
// events only (PTRACE_O_TRACEEXIT, and the clone, fork, vfork and exec
// events that follow new threads and processes; no syscall stops, no
// seccomp filter), walks at the exit stop of a thread whose death the
// client did not report, from the tree's registry, while the dead
// process's memory still exists: reads with process_vm_readv, shared
// futex words compare-and-swapped and woken through fexrl's own mapping
// of the shared object, so waiters in every process see them.
//
// The guard changes nothing a guest sees but its TracerPid: every signal
// is delivered as it came, a group-stop stays a group-stop (PTRACE_LISTEN),
// and exit statuses are the kernel's.

const (
	guardLaunchEnv = "FEXRL_GUARD_LAUNCH"
	guardGoFD      = 3 // the tracer closes it once it has seized us
)

func init() {
	// The launcher's main goroutine must stay on the main thread: it is
	// the one the tracer seizes and the one that calls execve.
	if os.Getenv(guardLaunchEnv) != "" {
		runtime.LockOSThread()
	}
}

// RunGuardLauncherIfRequested turns this process into the emulator when
// a guard started it as its launcher, and returns otherwise. A program
// that uses StartGuarded must call it first thing in main.
func RunGuardLauncherIfRequested() {
	path := os.Getenv(guardLaunchEnv)
	if path == "" {
		return
	}
	os.Unsetenv(guardLaunchEnv)
	var b [1]byte
	for {
		if _, err := unix.Read(guardGoFD, b[:]); err != unix.EINTR {
			break
		}
	}
	_ = unix.Close(guardGoFD)
	err := unix.Exec(path, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "fexrl: exec %s: %v\n", path, err)
	if errors.Is(err, unix.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

// GuardedProcess is an emulator started under the guard.
type GuardedProcess struct {
	// Pid is the emulator's process.
	Pid  int
	done chan guardResult
}

type guardResult struct {
	ws  unix.WaitStatus
	err error
}

// Wait waits until the emulator and every process of its tree have
// ended and returns the emulator's wait status.
func (g *GuardedProcess) Wait() (syscall.WaitStatus, error) {
	r := <-g.done
	return syscall.WaitStatus(r.ws), r.err
}

// Signal sends sig to the emulator.
func (g *GuardedProcess) Signal(sig syscall.Signal) error { return unix.Kill(g.Pid, sig) }

// ErrGuardUnavailable says the host does not let the server trace.
var ErrGuardUnavailable = errors.New("the guard cannot trace the emulator")

// StartGuarded starts the emulator argv[0] with argv[1:] as a child of
// this process, through a launcher (this same program re-executed with
// guardLaunchEnv set, see RunGuardLauncherIfRequested), and guards it.
// files are the child's standard input, output and error.
func (s *Server) StartGuarded(argv, env []string, files []*os.File) (*GuardedProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	started := make(chan error, 1)
	g := &GuardedProcess{done: make(chan guardResult, 1)}
	go func() {
		// Every ptrace request must come from the thread that attached.
		runtime.LockOSThread()
		pr, pw, err := os.Pipe()
		if err != nil {
			started <- err
			return
		}
		attr := &os.ProcAttr{Env: append(append([]string(nil), env...), guardLaunchEnv+"="+argv[0]),
			Files: append(append([]*os.File(nil), files...), pr)}
		p, err := os.StartProcess(self, argv, attr)
		pr.Close()
		if err != nil {
			pw.Close()
			started <- err
			return
		}
		opts := unix.PTRACE_O_TRACEEXIT | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK |
			unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL
		if err := seize(p.Pid, opts); err != nil {
			_ = p.Kill()
			pw.Close()
			_, _ = p.Wait()
			started <- fmt.Errorf("%w: %v", ErrGuardUnavailable, err)
			return
		}
		pw.Close()
		g.Pid = p.Pid
		s.mu.Lock()
		s.guarded = true
		s.mu.Unlock()
		started <- nil
		ws, err := s.guardLoop(p.Pid)
		g.done <- guardResult{ws, err}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return g, nil
}

func seize(pid, opts int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(opts), 0, 0)
	if e != 0 {
		return fmt.Errorf("PTRACE_SEIZE %d: %w", pid, e)
	}
	return nil
}

func ptrace(req int, tid int, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), 0, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// guardLoop follows the tree until every tracee has ended, and returns
// the first process's wait status.
func (s *Server) guardLoop(main int) (unix.WaitStatus, error) {
	live := map[int]bool{main: true}
	var mainWS unix.WaitStatus
	mainDone := false
	for len(live) > 0 {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			break
		}
		if err != nil {
			return mainWS, fmt.Errorf("guard: wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			delete(live, tid)
			if tid == main {
				mainWS, mainDone = ws, true
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		live[tid] = true
		sig := ws.StopSignal()
		switch event := int(ws>>16) & 0xff; event {
		case unix.PTRACE_EVENT_EXIT:
			s.guardExit(tid)
			s.resume(tid, 0)
		case unix.PTRACE_EVENT_CLONE, unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK:
			if msg, err := unix.PtraceGetEventMsg(tid); err == nil {
				live[int(msg)] = true
			}
			s.resume(tid, 0)
		case unix.PTRACE_EVENT_EXEC:
			s.resume(tid, 0)
		case unix.PTRACE_EVENT_STOP:
			switch sig {
			case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
				// A group-stop: stay stopped until SIGCONT, as untraced.
				if err := ptrace(unix.PTRACE_LISTEN, tid, 0); err != nil && err != unix.ESRCH {
					s.log.Warn("guard: PTRACE_LISTEN", zap.Int("tid", tid), zap.Error(err))
				}
			default:
				s.resume(tid, 0) // a new tracee's first stop
			}
		default:
			s.resume(tid, int(sig)) // a signal on its way: deliver it
		}
	}
	if !mainDone {
		return mainWS, errors.New("guard: the emulator's exit status was lost")
	}
	return mainWS, nil
}

func (s *Server) resume(tid, sig int) {
	if err := ptrace(unix.PTRACE_CONT, tid, uintptr(sig)); err != nil && err != unix.ESRCH {
		s.log.Warn("guard: PTRACE_CONT", zap.Int("tid", tid), zap.Error(err))
	}
}

// guardExit walks the lists of a thread at its exit stop if the client
// did not report its death (the registry still holds it with lists).
func (s *Server) guardExit(tid int) {
	t, ok := s.shim.Registry().Lookup(int32(tid))
	if !ok {
		return
	}
	if len(t.Lists()) == 0 {
		s.shim.Forget(int32(tid))
		return
	}
	pid := int(t.TGID())
	s.mu.Lock()
	var base uint64
	if p := s.procs[t.TGID()]; p != nil {
		base = p.guestBase
	}
	s.mu.Unlock()
	// A death the emulator did not report is a signal's: SIGKILL, or
	// the emulator's own crash.
	cause := shim.CauseSignal
	mem, err := guestmem.NewProcess(tid)
	if err != nil {
		s.log.Warn("guard: the dead thread's memory is gone; its lists cannot be walked", zap.Int("tid", tid), zap.Error(err))
		s.shim.Forget(int32(tid))
		return
	}
	defer mem.Close()
	var ro robustlist2.Memory = &guardMem{Process: mem, base: base}
	var capt *guestmem.Capture
	if s.cfg.CaptureMemory {
		capt = guestmem.NewCapture(ro)
		ro = capt
	}
	w := guestmem.NewProcessWaker(mem, nil)
	walks := s.shim.TaskExited(int32(tid), shim.Death{Cause: cause}, &shim.Env{Memory: ro, Waker: guardWaker{w, base}})
	s.taskEvent("exit", int32(tid), t.TGID(), cause, walks, capt, nil)
	n := 0
	for _, wk := range walks {
		if wk.Report != nil {
			n += wk.Report.Marked
		}
	}
	s.guardWalks.Add(1)
	s.log.Info("guard: walked the lists of a thread whose death the emulator could not report",
		zap.Int("tid", tid), zap.Int("pid", pid), zap.Stringer("cause", cause), zap.Int("marked", n))
}

// guardMem is a dead emulator process's guest memory: host = guest +
// base.
type guardMem struct {
	*guestmem.Process
	base uint64
}

func (m *guardMem) Load32(a uint64) (uint32, error)  { return m.Process.Load32(a + m.base) }
func (m *guardMem) Load64(a uint64) (uint64, error)  { return m.Process.Load64(a + m.base) }
func (m *guardMem) Store32(a uint64, v uint32) error { return m.Process.Store32(a+m.base, v) }
func (m *guardMem) Store64(a uint64, v uint64) error { return m.Process.Store64(a+m.base, v) }
func (m *guardMem) CompareAndSwap32(a uint64, o, n uint32) (uint32, error) {
	return m.Process.CompareAndSwap32(a+m.base, o, n)
}

type guardWaker struct {
	w    *guestmem.ProcessWaker
	base uint64
}

func (g guardWaker) Wake(a uint64, n int) (int, error) { return g.w.Wake(a+g.base, n) }
