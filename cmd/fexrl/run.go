//go:build linux && amd64

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/internal/logging"
)

const runSynopsis = "[--mode emulated|native] [--report FILE] [--explain] [--log-level L] [--log-json] [--robust-list2] [--unbounded] [--kernel-unlock-rule] [--robust-unlock auto|emulate|host] -- PROGRAM [ARGS...]"

// runFlags are the flags run shares with record.
type runFlags struct {
	mode      string
	report    string
	explain   bool
	logLevel  string
	logJSON   bool
	robust2   bool
	unbounded bool
	kernelFix bool
	unlock    string
}

func (f *runFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&f.mode, "mode", "emulated", "emulated: fexrl handles the robust lists, as on an arm64 host without kernel support; native: the host kernel does (the oracle)")
	fs.StringVar(&f.report, "report", "", "write a JSON report of what fexrl did to `FILE`")
	fs.BoolVar(&f.explain, "explain", false, "print every list walk (entry, old and new futex word, wakes) on stderr when the guest ends")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: "+logging.Levels+" (default warn)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text")
	fs.BoolVar(&f.robust2, "robust-list2", false, "answer the proposed set_robust_list2/get_robust_list2 for the guest (default: ENOSYS, like the host kernel)")
	fs.BoolVar(&f.unbounded, "unbounded", false, "walk lists past the kernel's 2048-entry limit, stopping on cycles")
	fs.BoolVar(&f.kernelFix, "kernel-unlock-rule", false, "keep the kernel's pending-op rule for a thread killed inside a robust unlock (glibc bug 14485) instead of only waking")
	fs.StringVar(&f.unlock, "robust-unlock", "auto", "who performs guest futex calls with FUTEX_ROBUST_UNLOCK: auto (the host kernel if it has the flag, else fexrl), emulate (fexrl), host (the host kernel, which may answer ENOSYS)")
}

func runRun(e *env, args []string) int {
	fs := newFlags(e, "run", runSynopsis)
	var f runFlags
	f.register(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "run", err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "fexrl run: no program given")
		fs.Usage()
		return 2
	}
	opts, log, err := f.options(e)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl run: %v\n", err)
		fs.Usage()
		return 2
	}
	defer func() { _ = log.Sync() }()
	rec := &walkLog{}
	opts.OnWalk = rec.add
	res, err := adapter.Run(context.Background(), fs.Args(), opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl run: %v\n", err)
		if errors.Is(err, adapter.ErrNotFound) {
			return 127
		}
		return 126
	}
	if f.explain {
		rec.explain(e.stderr, f.mode, res)
	}
	if f.report != "" {
		if err := writeReport(f.report, f.mode, res, rec.walks); err != nil {
			fmt.Fprintf(e.stderr, "fexrl run: %v\n", err)
			return 1
		}
	}
	return res.ExitCode
}

// options turns the flags into adapter options.
func (f *runFlags) options(e *env) (adapter.Options, *zap.Logger, error) {
	mode, err := adapter.ParseMode(f.mode)
	if err != nil {
		return adapter.Options{}, nil, err
	}
	unlock, err := adapter.ParseRobustUnlock(f.unlock)
	if err != nil {
		return adapter.Options{}, nil, err
	}
	log, err := logging.New(f.logLevel, f.logJSON, e.stderr)
	if err != nil {
		return adapter.Options{}, nil, err
	}
	opts := adapter.Options{Mode: mode, Logger: log, ForwardSignals: true, RobustUnlock: unlock}
	opts.Shim.NoRobustList2 = !f.robust2
	opts.Shim.Walk.Unbounded = f.unbounded
	opts.Shim.KernelUnlockRule = f.kernelFix
	return opts, log, nil
}

// walkLog keeps the walks of a run, safely for the tracer's callback.
type walkLog struct {
	mu    sync.Mutex
	walks []adapter.WalkEvent
}

func (l *walkLog) add(w adapter.WalkEvent) {
	l.mu.Lock()
	l.walks = append(l.walks, w)
	l.mu.Unlock()
}

func writeReport(path, mode string, res *adapter.Result, walks []adapter.WalkEvent) error {
	return writeRunReport(path, runOutcome{mode: mode, exitCode: res.ExitCode, signal: int(res.Signal), duration: res.Duration,
		tasks: int64(res.Tasks), stats: res.Stats}, walks)
}

// explain prints the walks for a human.
func (l *walkLog) explain(w io.Writer, mode string, res *adapter.Result) {
	walks := make([]walkEntry, len(l.walks))
	for i, we := range l.walks {
		walks[i] = walkEntry{TID: we.TID, TGID: we.TGID, Cause: we.Cause, Walk: we.Walk}
	}
	explainWalks(w, mode, res.Tasks, res.Stats, walks)
}
