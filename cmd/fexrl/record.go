//go:build linux && amd64

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/record"
	"github.com/fexrl/fexrl/internal/logging"
	"github.com/fexrl/fexrl/translator"
)

const recordSynopsis = "-o FILE " + runSynopsis + "\n       fexrl record --qemu -o FILE " + qemuSynopsis

// runRecord is fexrl record: fexrl run (or, with --qemu first, fexrl
// qemu), writing a trace of what the guest did and what fexrl answered
// and walked.
func runRecord(e *env, args []string) int {
	if len(args) > 0 && args[0] == "--qemu" {
		return runRecordQemu(e, args[1:])
	}
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

// runRecordQemu is fexrl record --qemu: fexrl qemu, writing the same
// trace from the server's events.
func runRecordQemu(e *env, args []string) int {
	fs := newFlags(e, "record --qemu", "-o FILE "+qemuSynopsis)
	var f qemuFlags
	f.register(fs)
	out := fs.String("o", "", "write the trace to `FILE` (required)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "record", err)
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "fexrl record --qemu: no trace file (-o FILE) or no program given")
		fs.Usage()
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 2
	}
	log, err := logging.New(f.logLevel, f.logJSON, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	emu, code, err := qemuFor(f.dir, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return code
	}
	file, err := os.Create(*out)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 1
	}
	defer file.Close()
	h := trace.Header{
		Command: fs.Args(),
		Config:  trace.Config{Mode: "emulated", RobustList2: f.robust2, Unbounded: f.unbounded, KernelUnlockRule: f.kernelFix},
	}
	if path, err := exec.LookPath(fs.Arg(0)); err == nil {
		h.ABIs = record.GuessABIs(path)
	}
	rec, err := record.New(file, h)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl record: %v\n", err)
		return 1
	}
	res, runErr := runUnderQemu(e, emu, fs.Args(), f, log, func(c *server.Config) {
		c.CaptureMemory = true
		c.OnTask = func(ev server.TaskEvent) { rec.Task(adapterTask(ev)) }
		c.OnSyscall = func(ev server.SyscallEvent) { rec.Syscall(adapterSyscall(ev)) }
	})
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
		return 126
	}
	if code := f.finish(e, "record", res); code != 0 {
		return code
	}
	fmt.Fprintf(e.stderr, "fexrl record: %d event(s) written to %s\n", rec.Events(), *out)
	return res.exitCode
}

// adapterTask is a server task event as the recorder takes it.
func adapterTask(ev server.TaskEvent) adapter.TaskEvent {
	a := adapter.TaskEvent{Kind: ev.Kind, TID: ev.TID, TGID: ev.TGID, Parent: ev.Parent, ABI: ev.ABI, Flags: ev.Flags,
		Walks: ev.Walks, Memory: ev.Memory, Former: ev.Former}
	switch ev.Kind {
	case "exit", "exec":
		a.Cause = ev.Cause.String()
		a.ABI = ""
		if ev.Mode != 0 && ev.Regs != nil {
			a.ABI = modeName(ev.Mode)
			a.IP, a.SP, a.ThreadPointer, a.GPR = ev.IP, ev.Regs.RSP, ev.TP, ev.Regs
		}
	}
	return a
}

// adapterSyscall is a server syscall event as the recorder takes it.
func adapterSyscall(ev server.SyscallEvent) adapter.SyscallEvent {
	a := x86_64.Arch()
	if ev.ABI == x86_32.Arch().Name {
		a = x86_32.Arch()
	}
	return adapter.SyscallEvent{TID: ev.TID, ABI: ev.ABI, Nr: ev.Nr, Name: translator.Classify(a, ev.Nr).String(),
		Args: ev.Args, Handled: ev.Handled, Ret: ev.Ret}
}

// modeName names the ABI of a thread's code size.
func modeName(mode int) string {
	if mode == 32 {
		return x86_32.Arch().Name
	}
	return x86_64.Arch().Name
}
