package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/progress"
	"github.com/fexrl/fexrl/internal/logging"
)

const replaySynopsis = "FILE [--json] [--check] [--log-level L] [--log-json]"

// parseInterspersed parses flags that may come before or after the
// positional arguments (fexrl replay FILE --check), and returns the
// positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, help bool, err error) {
	for {
		if help, err := parseFlags(fs, args); help || err != nil {
			return nil, help, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, false, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), false, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openInput opens FILE, or standard input for "-".
func openInput(e *env, name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		return e.stdin, 0, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	var size int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// runReplay is fexrl replay: replays a trace through fexrl and prints,
// per event, what fexrl does.
func runReplay(e *env, args []string) int {
	fs := newFlags(e, "replay", replaySynopsis)
	asJSON := fs.Bool("json", false, "print JSON Lines instead of text")
	check := fs.Bool("check", false, "compare with the outcome the trace recorded; name every difference and exit 1 if there is one")
	logLevel := fs.String("log-level", "error", "log level of the replayed shim: "+logging.Levels+" (what it warns about is in the output already)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	pos, help, err := parseInterspersed(fs, args)
	if help || err != nil {
		return exitCode(e, "replay", err)
	}
	if len(pos) != 1 {
		if len(pos) == 0 {
			fmt.Fprintln(e.stderr, "fexrl replay: no trace given")
		} else {
			fmt.Fprintf(e.stderr, "fexrl replay: unexpected argument %q\n", pos[1])
		}
		fs.Usage()
		return 2
	}
	log, err := logging.New(*logLevel, *logJSON, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl replay: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	in, size, closeIn, err := openInput(e, pos[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl replay: %v\n", err)
		return 1
	}
	defer closeIn()

	rd, err := trace.NewReader(in)
	if err != nil {
		printTraceError(e, pos[0], err)
		return 1
	}
	var sink trace.Sink
	if *asJSON {
		sink = trace.NewJSONSink(e.stdout, *check)
	} else {
		sink = trace.NewTextSink(e.stdout, *check)
	}
	// The bar shares the screen with the output only when both go to
	// the terminal; then it stays away.
	var bar *progress.Bar
	if !progress.IsTerminal(e.stdout) {
		bar = progress.New(e.stderr, "replay", size)
	}
	end, err := trace.Replay(rd, sink, trace.ReplayOptions{Logger: log}, bar.Update)
	bar.Done()
	if err != nil {
		printTraceError(e, pos[0], err)
		return 1
	}
	if *check && end.Diffs > 0 {
		fmt.Fprintf(e.stderr, "fexrl replay: %s: %d difference(s) from the recorded outcome in %d event(s)\n", pos[0], end.Diffs, end.DiffEvents)
		return 1
	}
	return 0
}

// printTraceError prints an error reading trace name as "name:line: ...".
func printTraceError(e *env, name string, err error) {
	var le *trace.LineError
	if errors.As(err, &le) {
		fmt.Fprintf(e.stderr, "fexrl replay: %s:%d: %v\n", name, le.Line, le.Err)
		return
	}
	fmt.Fprintf(e.stderr, "fexrl replay: %s: %v\n", name, err)
}
