//go:build linux && amd64

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/record"
)

const recordSynopsis = "-o FILE " + runSynopsis

// runRecord is fexrl record: fexrl run, writing a trace of what the
// guest did and what fexrl answered and walked.
func runRecord(e *env, args []string) int {
	fs := newFlags(e, "record", recordSynopsis)
	var f runFlags
	f.register(fs)
	out := fs.String("o", "", "write the trace to `FILE` (required)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "record", err)
	}
	if *out == "" || fs.NArg() == 0 {
		if *out == "" {
			fmt.Fprintln(e.stderr, "fexrl record: no trace file given (-o FILE)")
		} else {
			fmt.Fprintln(e.stderr, "fexrl record: no program given")
		}
		fs.Usage()
		return 2
	}
	opts, log, err := f.options(e)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		fs.Usage()
		return 2
	}
	defer func() { _ = log.Sync() }()

	file, err := os.Create(*out)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 1
	}
	defer file.Close()
	h := trace.Header{
		Command: fs.Args(),
		Config:  trace.Config{Mode: f.mode, RobustList2: f.robust2, Unbounded: f.unbounded, KernelUnlockRule: f.kernelFix},
	}
	if path, err := exec.LookPath(fs.Arg(0)); err == nil {
		h.ABIs = record.GuessABIs(path)
	}
	rec, err := record.New(file, h)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 1
	}
	rec.Options(&opts)
	walks := &walkLog{}
	opts.OnWalk = walks.add
	res, runErr := adapter.Run(context.Background(), fs.Args(), opts)
	if err := rec.Close(); err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: writing %s: %v\n", *out, err)
		return 1
	}
	if err := file.Close(); err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: writing %s: %v\n", *out, err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", runErr)
		if errors.Is(runErr, adapter.ErrNotFound) {
			return 127
		}
		return 126
	}
	if f.explain {
		walks.explain(e.stderr, f.mode, res)
	}
	if f.report != "" {
		if err := writeReport(f.report, f.mode, res, walks.walks); err != nil {
			fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
			return 1
		}
	}
	log.Debug("trace written")
	fmt.Fprintf(e.stderr, "fexrl record: %d event(s) written to %s\n", rec.Events(), *out)
	return res.ExitCode
}
