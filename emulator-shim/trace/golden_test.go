package trace

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/robustlist2"
)

// -update rewrites the golden replay output of fixtures/traces (and the
// hand-made traces there) from what replay prints now.
var update = flag.Bool("update", false, "rewrite the golden files in fixtures/traces")

const tracesDir = "../../fixtures/traces"

// handMade are traces written by code, for what the fixture guests do
// not do: a thread killed inside glibc's robust unlock, after its
// release (glibc bug 14485), whose mutex memory was reused.
func handMade(t *testing.T) map[string][]byte {
	const tp = 0x7f0000001000
	head := uint64(tp + 0x2f0 - 16)
	ev := unlockWindowExit(t, robustlist2.ListWalk{Index: robustlist2.SlotNative, Slot: robustlist2.Slot{Head: head, Bits: 64},
		Report: &robustlist2.Report{FutexOffset: -0x20, PendingNode: 0x600020, Stop: robustlist2.StopEnd, Woken: 1,
			Entries: []robustlist2.Entry{{Node: 0x600020, Word: 0x600000, Pending: true, Action: robustlist2.ActionUnlockWindow,
				Old: tid, New: tid, Wakes: 1, Woken: 1}}}})
	ev.Waiters = []Waiter{{Addr: 0x600000, N: 1}}
	tr := build(t, Config{Mode: "emulated"}, task(tid, tid, 0), sys(tid, ABIx86_64, 273, 0, head, 24), ev)
	tr = bytes.Replace(tr, []byte(`"source":"test"`), []byte(`"source":"hand-made"`), 1)
	return map[string][]byte{"unlock_window-x86_64": tr}
}

// TestGolden replays every trace in fixtures/traces, as text and as
// JSON, with --check, and compares with the golden files NAME.replay.txt
// and NAME.replay.jsonl.
func TestGolden(t *testing.T) {
	if *update {
		for name, tr := range handMade(t) {
			if err := os.WriteFile(filepath.Join(tracesDir, name+".trace"), tr, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	traces, err := filepath.Glob(filepath.Join(tracesDir, "*.trace"))
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) < 8 {
		t.Fatalf("only %d traces in %s", len(traces), tracesDir)
	}
	want := map[string]bool{}
	var abis = map[string]bool{}
	for _, path := range traces {
		name := strings.TrimSuffix(filepath.Base(path), ".trace")
		tr, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, asJSON := range []bool{false, true} {
			golden := filepath.Join(tracesDir, name+".replay.txt")
			if asJSON {
				golden = filepath.Join(tracesDir, name+".replay.jsonl")
			}
			want[filepath.Base(golden)] = true
			t.Run(filepath.Base(golden), func(t *testing.T) {
				rd, err := NewReader(bytes.NewReader(tr))
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range rd.Header().ABIs {
					abis[a] = true
				}
				var out bytes.Buffer
				var sink Sink = NewTextSink(&out, true)
				if asJSON {
					sink = NewJSONSink(&out, true)
				}
				end, err := Replay(rd, sink, ReplayOptions{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				// Recorded traces replay to what fexrl did live; imported
				// ones differ where the emulator's answers were not
				// fexrl's (qemu's ENOSYS).
				if rd.Header().Source != "qemu" && end.Diffs != 0 {
					t.Errorf("%d differences from the recorded outcome", end.Diffs)
				}
				if *update {
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				exp, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to write it)", err)
				}
				if !bytes.Equal(out.Bytes(), exp) {
					t.Errorf("replay output differs from %s (go test -update rewrites it):\n%s", golden, firstDiff(string(exp), out.String()))
				}
			})
		}
	}
	for _, a := range []string{ABIx86_32, ABIx86_64} {
		if !abis[a] {
			t.Errorf("no fixture trace of a %s guest", a)
		}
	}
	// Golden files without a trace are stale.
	all, _ := filepath.Glob(filepath.Join(tracesDir, "*.replay.*"))
	var stale []string
	for _, g := range all {
		if !want[filepath.Base(g)] {
			stale = append(stale, g)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("golden files without a trace: %v", stale)
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(same lines, different bytes)"
}
