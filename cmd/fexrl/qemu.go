//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/internal/logging"
	"github.com/fexrl/fexrl/robustlist2"
)

func init() {
	// `fexrl qemu` re-executes itself as the guard's launcher.
	server.RunGuardLauncherIfRequested()
}

const qemuSynopsis = "[--qemu-dir DIR] [--guard on|off] [--report FILE] [--explain] [--log-level L] [--log-json] [--robust-list2] [--unbounded] [--kernel-unlock-rule] -- PROGRAM [ARGS...]"

// qemuFlags are the flags of `fexrl qemu`.
type qemuFlags struct {
	dir       string
	report    string
	explain   bool
	logLevel  string
	logJSON   bool
	robust2   bool
	unbounded bool
	kernelFix bool
	guard     string
}

// runQemu is `fexrl qemu`: PROGRAM under the patched QEMU linux-user
// with a fexrl server for its process tree.
func runQemu(e *env, args []string) int {
	fs := newFlags(e, "qemu", qemuSynopsis)
	var f qemuFlags
	f.register(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "qemu", err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "fexrl qemu: no program given")
		fs.Usage()
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(e.stderr, "fexrl qemu: %v\n", err)
		return 2
	}
	log, err := logging.New(f.logLevel, f.logJSON, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl qemu: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	emu, code, err := qemuFor(f.dir, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl qemu: %v\n", err)
		return code
	}
	res, err := runUnderQemu(e, emu, fs.Args(), f, log, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl qemu: %v\n", err)
		return 126
	}
	if code := f.finish(e, "qemu", res); code != 0 {
		return code
	}
	return res.exitCode
}

// register adds the flags of fexrl qemu to fs.
func (f *qemuFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "qemu-dir", "", "the directory of the patched qemu-i386 and qemu-x86_64 (default $FEXRL_QEMU_DIR, else qemu/ beside the fexrl binary; scripts/qemu builds them)")
	fs.StringVar(&f.guard, "guard", "on", "on: the server traces the emulators for exit events only and walks the lists of a thread whose death the emulator could not report (SIGKILL, a crash); off: it does not (the baseline)")
	fs.StringVar(&f.report, "report", "", "write a JSON report of what fexrl did to `FILE`")
	fs.BoolVar(&f.explain, "explain", false, "print every list walk (entry, old and new futex word, wakes) on stderr when the guest ends")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: "+logging.Levels+" (default warn)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text")
	fs.BoolVar(&f.robust2, "robust-list2", false, "answer the proposed set_robust_list2/get_robust_list2 for the guest (default: QEMU's ENOSYS)")
	fs.BoolVar(&f.unbounded, "unbounded", false, "walk lists past the kernel's 2048-entry limit, stopping on cycles")
	fs.BoolVar(&f.kernelFix, "kernel-unlock-rule", false, "keep the kernel's pending-op rule for a thread killed inside a robust unlock (glibc bug 14485) instead of only waking")
}

// check validates the flags.
func (f *qemuFlags) check() error {
	if f.guard != "on" && f.guard != "off" {
		return fmt.Errorf("--guard %q: want on or off", f.guard)
	}
	return nil
}

// finish prints and writes what --explain and --report ask for; it
// returns a nonzero exit status if writing failed.
func (f *qemuFlags) finish(e *env, name string, res *qemuResult) int {
	if f.explain {
		explainWalks(e.stderr, "qemu", int(res.stats.Tasks), res.stats, res.walks)
	}
	if f.report != "" {
		if err := writeQemuReport(f.report, res); err != nil {
			fmt.Fprintf(e.stderr, "fexrl %s: %v\n", name, err)
			return 1
		}
	}
	return 0
}

// qemuDir finds the patched QEMU.
func qemuDir(flagDir string) (string, error) {
	for _, d := range []string{flagDir, os.Getenv("FEXRL_QEMU_DIR")} {
		if d != "" {
			return d, nil
		}
	}
	if self, err := os.Executable(); err == nil {
		d := filepath.Join(filepath.Dir(self), "qemu")
		if _, err := os.Stat(filepath.Join(d, "qemu-i386")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no patched QEMU: build it with scripts/qemu and give its directory with --qemu-dir or FEXRL_QEMU_DIR")
}

// qemuFor picks qemu-i386 or qemu-x86_64 for prog from its ELF header.
// The int is the exit status for an error (127: not found, 126: not
// runnable).
func qemuFor(flagDir, prog string) (string, int, error) {
	path := prog
	if filepath.Base(prog) == prog {
		p, err := exec.LookPath(prog)
		if err != nil {
			return "", 127, fmt.Errorf("%s: program not found", prog)
		}
		path = p
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 127, fmt.Errorf("%s: program not found", prog)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", 126, fmt.Errorf("%s: not an executable file", prog)
	}
	ef, err := elf.Open(path)
	if err != nil {
		return "", 126, fmt.Errorf("%s: not an ELF program: %v", prog, err)
	}
	defer ef.Close()
	var name string
	switch ef.Machine {
	case elf.EM_386:
		name = "qemu-i386"
	case elf.EM_X86_64:
		name = "qemu-x86_64"
	default:
		return "", 126, fmt.Errorf("%s: a %v program; fexrl qemu runs i386 and x86-64 programs", prog, ef.Machine)
	}
	dir, err := qemuDir(flagDir)
	if err != nil {
		return "", 126, err
	}
	emu := filepath.Join(dir, name)
	if _, err := os.Stat(emu); err != nil {
		return "", 126, fmt.Errorf("no %s in %s: %v", name, dir, err)
	}
	return emu, 0, nil
}

// qemuResult is what a run under QEMU did.
type qemuResult struct {
	exitCode int
	signal   syscall.Signal
	duration time.Duration
	stats    shim.Stats
	walks    []walkEntry
}

// runUnderQemu runs args under emu with a server for the tree, and
// returns once the guest and every process of its tree has ended.
func runUnderQemu(e *env, emu string, args []string, f qemuFlags, log *zap.Logger, configure func(*server.Config)) (*qemuResult, error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	addr := fmt.Sprintf("@fexrl-qemu-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	ln, err := server.Listen(addr)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	res := &qemuResult{}
	cfg := server.Config{Logger: log}
	cfg.Shim.NoRobustList2 = !f.robust2
	cfg.Shim.Walk.Unbounded = f.unbounded
	cfg.Shim.KernelUnlockRule = f.kernelFix
	cfg.Shim.OnWalk = func(tid int32, cause shim.Cause, w robustlist2.ListWalk) {
		mu.Lock()
		res.walks = append(res.walks, walkEntry{TID: tid, Cause: cause, Walk: w})
		mu.Unlock()
	}
	if configure != nil {
		configure(&cfg)
	}
	srv := server.New(cfg)

	env := append(os.Environ(), "FEXRL_SOCKET="+addr)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	start := time.Now()
	p, err := startEmulator(e, srv, emu, args, env, f.guard == "on")
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ServeTree(ctx, ln, int32(p.pid())) }()
	type waitResult struct {
		ws  syscall.WaitStatus
		err error
	}
	waited := make(chan waitResult, 1)
	go func() {
		ws, err := p.wait()
		waited <- waitResult{ws, err}
	}()
	var wr waitResult
	for n := 0; ; {
		select {
		case s := <-sigs:
			n++
			if n > 1 {
				s = syscall.SIGKILL // a second signal: the guest may not ignore it
			}
			_ = p.signal(s.(syscall.Signal))
			continue
		case wr = <-waited:
		}
		break
	}
	res.duration = time.Since(start)
	// The tree's other processes may outlive its first: the server ends
	// when none is left (ServeTree).
	if err := <-served; err != nil {
		log.Warn("server", zap.Error(err))
	}
	cancel()
	res.stats = srv.Shim().Stats()
	if wr.err != nil {
		return nil, wr.err
	}
	switch ws := wr.ws; {
	case ws.Signaled():
		res.signal = ws.Signal()
		res.exitCode = 128 + int(ws.Signal())
	default:
		res.exitCode = ws.ExitStatus()
	}
	return res, nil
}

// qemuWrapperEnv names a command line (words) that fexrl qemu puts in
// front of the QEMU it starts.
const qemuWrapperEnv = "FEXRL_QEMU_WRAPPER"

// emulatorProcess is the emulator started by fexrl qemu, guarded or not.
type emulatorProcess struct {
	guarded *server.GuardedProcess
	cmd     *exec.Cmd
}

func (p *emulatorProcess) pid() int {
	if p.guarded != nil {
		return p.guarded.Pid
	}
	return p.cmd.Process.Pid
}

func (p *emulatorProcess) signal(s syscall.Signal) error {
	if p.guarded != nil {
		return p.guarded.Signal(s)
	}
	return p.cmd.Process.Signal(s)
}

// wait returns the emulator's wait status once it (and, guarded, every
// process of its tree) has ended.
func (p *emulatorProcess) wait() (syscall.WaitStatus, error) {
	if p.guarded != nil {
		return p.guarded.Wait()
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) {
		return p.cmd.ProcessState.Sys().(syscall.WaitStatus), nil
	}
	return 0, err
}

// startEmulator starts emu with args, under the guard when guard is set
// and the host lets this process trace it (else it says why on stderr
// and runs without).
func startEmulator(e *env, srv *server.Server, emu string, args, env []string, guard bool) (*emulatorProcess, error) {
	files := []*os.File{stdFile(e.stdin, os.Stdin), stdFile(e.stdout, os.Stdout), stdFile(e.stderr, os.Stderr)}
	if w := strings.Fields(os.Getenv(qemuWrapperEnv)); len(w) > 0 {
		// QEMU itself runs under another emulator (scripts/arm64-e2e: an
		// arm64 QEMU under qemu-aarch64 on an x86-64 host, where the
		// kernel cannot exec it directly).
		args = append(append(w[1:], emu), args...)
		emu = w[0]
		if guard {
			fmt.Fprintf(e.stderr, "fexrl qemu: guard off: QEMU runs under %s (%s), which the guard cannot trace\n", w[0], qemuWrapperEnv)
			guard = false
		}
	}
	if guard {
		g, err := srv.StartGuarded(append([]string{emu}, args...), env, files)
		if err == nil {
			return &emulatorProcess{guarded: g}, nil
		}
		if !errors.Is(err, server.ErrGuardUnavailable) {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "fexrl qemu: guard off: %v\n", err)
	}
	cmd := exec.Command(emu, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &emulatorProcess{cmd: cmd}, nil
}

func stdFile(x any, def *os.File) *os.File {
	if f, ok := x.(*os.File); ok {
		return f
	}
	return def
}

func writeQemuReport(path string, res *qemuResult) error {
	return writeRunReport(path, runOutcome{mode: "qemu", exitCode: res.exitCode, signal: int(res.signal), duration: res.duration,
		tasks: res.stats.Tasks, stats: res.stats}, res.walks)
}
