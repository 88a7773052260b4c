package importer_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/qemu"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer/strace"
)

// fuzzImport checks that any log imports without panicking into a trace
// that reads back whole and replays without error, and that every line
// is accounted for.
func fuzzImport(t *testing.T, p importer.Parser, log []byte) {
	var w writerAt
	res, err := importer.Run(bytes.NewReader(log), &w, p, importer.Options{})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	lines := int64(bytes.Count(log, []byte("\n")))
	if len(log) > 0 && log[len(log)-1] != '\n' {
		lines++
	}
	if res.Lines != lines {
		t.Fatalf("%d lines read of %d", res.Lines, lines)
	}
	rd, err := trace.NewReader(bytes.NewReader(w.b))
	if err != nil {
		t.Fatalf("the import is no trace: %v\n%s", err, w.b)
	}
	end, err := trace.Replay(rd, trace.NewTextSink(io.Discard, true), trace.ReplayOptions{}, nil)
	if err != nil {
		t.Fatalf("the import does not replay: %v\n%s", err, w.b)
	}
	if end.Events != res.Events() {
		t.Fatalf("%d events replayed, the import says %d", end.Events, res.Events())
	}
}

func seedLogs(f *testing.F, ext string) {
	paths, _ := filepath.Glob("../../../fixtures/traces/logs/*" + ext)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		for i := 0; i < len(lines); i += 20 {
			f.Add([]byte(strings.Join(lines[i:min(len(lines), i+20)], "")))
		}
	}
}

func FuzzStrace(f *testing.F) {
	seedLogs(f, ".strace")
	f.Add([]byte("1 clone3({flags=CLONE_VM|CLONE_THREAD} <unfinished ...>\n2 set_robust_list(0x1000, 24) = 0\n1 <... clone3 resumed> => {parent_tid=[2]}, 88) = 2\n[ Process PID=2 runs in 32 bit mode. ]\n2 +++ killed by SIGKILL +++\n"))
	f.Fuzz(func(t *testing.T, log []byte) { fuzzImport(t, strace.New(), log) })
}

func FuzzQEMU(f *testing.F) {
	seedLogs(f, ".qemu")
	f.Add([]byte("5 clone(CLONE_VM|CLONE_THREAD|0x11,child_stack=0x0) = 6\n5 Unknown syscall 473\n5 exit_group(0)\n"))
	f.Fuzz(func(t *testing.T, log []byte) { fuzzImport(t, qemu.New(), log) })
}
