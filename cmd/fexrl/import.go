package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/qemu"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/strace"
	"github.com/fexrl/fexrl/emulator-shim/trace/progress"
)

const importSynopsis = "[--format auto|strace|qemu] [--abi auto|x86_32|x86_64] [--strict] [--host-arch ARCH] FILE -o TRACE"

// runImport is fexrl import: strace -f or qemu -strace output to a trace.
func runImport(e *env, args []string) int {
	fs := newFlags(e, "import", importSynopsis)
	format := fs.String("format", "auto", "the log's format: strace (strace -f), qemu (qemu-i386/qemu-x86_64 -strace), or auto to tell from the first lines")
	abiName := fs.String("abi", "auto", "the guest ABI, x86_32 or x86_64; auto tells it from the log per process image (x86_64 where the log gives no hint)")
	strict := fs.Bool("strict", false, "stop at the first line that cannot be parsed (default: report it and go on)")
	hostArch := fs.String("host-arch", "", "the GOARCH of the machine the log was made on, for the trace's header (default unknown)")
	out := fs.String("o", "", "write the trace to `TRACE` (required)")
	pos, help, err := parseInterspersed(fs, args)
	if help || err != nil {
		return exitCode(e, "import", err)
	}
	if len(pos) != 1 || *out == "" {
		switch {
		case len(pos) == 0:
			fmt.Fprintln(e.stderr, "fexrl import: no log given")
		case len(pos) > 1:
			fmt.Fprintf(e.stderr, "fexrl import: unexpected argument %q\n", pos[1])
		default:
			fmt.Fprintln(e.stderr, "fexrl import: no trace file given (-o TRACE)")
		}
		fs.Usage()
		return 2
	}
	name := pos[0]
	in, size, closeIn, err := openInput(e, name)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl import: %v\n", err)
		return 1
	}
	defer closeIn()
	br := bufio.NewReaderSize(in, 256<<10)
	var p importer.Parser
	switch *format {
	case "strace":
		p = strace.New()
	case "qemu":
		p = qemu.New()
	case "auto":
		head, _ := br.Peek(64 << 10)
		if detectQEMU(head) {
			p = qemu.New()
		} else {
			p = strace.New()
		}
	default:
		fmt.Fprintf(e.stderr, "fexrl import: unknown format %q (want strace, qemu or auto)\n", *format)
		fs.Usage()
		return 2
	}
	switch *abiName {
	case "auto", trace.ABIx86_32, trace.ABIx86_64:
	default:
		fmt.Fprintf(e.stderr, "fexrl import: unknown ABI %q (want auto, x86_32 or x86_64)\n", *abiName)
		fs.Usage()
		return 2
	}

	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl import: %v\n", err)
		return 1
	}
	bar := progress.New(e.stderr, "import", size)
	opts := importer.Options{
		ABI:      *abiName,
		Strict:   *strict,
		Host:     trace.Host{OS: "linux", Arch: *hostArch},
		Progress: bar.Update,
	}
	res, err := importer.Run(br, f, p, opts)
	bar.Done()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if res != nil {
		for _, pr := range res.Problems {
			fmt.Fprintf(e.stderr, "%s:%d: %v: %s\n", name, pr.Line, pr.Err, pr.Text)
		}
		if more := res.ProblemCount - int64(len(res.Problems)); more > 0 {
			fmt.Fprintf(e.stderr, "%s: and %d more line(s) that could not be parsed\n", name, more)
		}
	}
	if err != nil {
		_ = os.Remove(*out)
		var le *trace.LineError
		if errors.As(err, &le) {
			fmt.Fprintf(e.stderr, "fexrl import: %s:%d: %v (--strict); no trace written\n", name, le.Line, le.Err)
		} else {
			fmt.Fprintf(e.stderr, "fexrl import: %v; no trace written\n", err)
		}
		return 1
	}
	fmt.Fprintf(e.stderr, "fexrl import: %s (%s): %d line(s): %d syscall(s), %d kept, %d not fexrl's; %d notice(s); %d line(s) skipped as unparseable",
		name, p.Name(), res.Lines, res.Syscalls, res.Kept, res.Other, res.Notices, res.ProblemCount)
	if res.Unfinished > 0 {
		fmt.Fprintf(e.stderr, "; %d call(s) never finished", res.Unfinished)
	}
	fmt.Fprintf(e.stderr, "\nfexrl import: wrote %s: %d event(s) (%d task, %d exit, %d exec), guest ABI(s) %v",
		*out, res.Events(), res.Tasks, res.Exits, res.Execs, res.ABIs)
	if res.Defaulted > 0 {
		fmt.Fprintf(e.stderr, "; %d event(s) had no ABI hint and are %s", res.Defaulted, trace.ABIx86_64)
	}
	fmt.Fprintln(e.stderr)
	return 0
}

// detectQEMU tells QEMU -strace output from strace's by the first lines:
// QEMU writes "errno=N" returns, "Unknown syscall" lines and arguments
// without a space after the commas; strace has "<unfinished ...>",
// "+++" and ", " between arguments.
func detectQEMU(head []byte) bool {
	qemuScore, straceScore := 0, 0
	for _, line := range bytes.Split(head, []byte("\n")) {
		switch {
		case bytes.Contains(line, []byte(" errno=")), bytes.Contains(line, []byte(" Unknown syscall ")):
			qemuScore += 3
		case bytes.Contains(line, []byte("<unfinished ...>")), bytes.Contains(line, []byte("<... ")),
			bytes.HasPrefix(bytes.TrimLeft(line, "0123456789 "), []byte("+++ ")):
			straceScore += 3
		}
		open := bytes.IndexByte(line, '(')
		if open < 0 {
			continue
		}
		args := line[open:]
		if bytes.Contains(args, []byte(", ")) {
			straceScore++
		} else if bytes.Contains(args, []byte(",")) {
			qemuScore++
		}
	}
	return qemuScore > straceScore
}
