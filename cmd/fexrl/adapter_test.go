//go:build linux && amd64

package main

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fexrl/fexrl/emulator-shim/adapter"
	"github.com/fexrl/fexrl/fixtures"
)

// TestExitReportedOnce: a thread that dies holding a private robust mutex
// another thread waits on is made to run its exit again after fexrl
// injected the wake; the hooks must still hear of that exit once.
func TestExitReportedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	bin, err := fixtures.Build(ctx, cacheDir(t), "owner_thread_exit", "x86_64-static")
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var mu sync.Mutex
	exits := map[int32]int{}
	var wakes int
	opts := adapter.Options{Stdout: devnull, Stderr: devnull,
		OnSyscall: func(e adapter.SyscallEvent) {
			if e.Name == "exit" || e.Name == "exit_group" {
				mu.Lock()
				exits[e.TID]++
				mu.Unlock()
			}
		},
		OnWalk: func(w adapter.WalkEvent) {
			mu.Lock()
			if w.Walk.Report != nil {
				for _, e := range w.Walk.Report.Entries {
					wakes += e.Wakes
				}
			}
			mu.Unlock()
		},
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	res, err := adapter.Run(rctx, []string{bin}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("guest exit %d", res.ExitCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if wakes == 0 {
		t.Fatalf("no wake was injected, so nothing was re-run (exits %v)", exits)
	}
	if len(exits) == 0 {
		t.Fatal("no exit reported")
	}
	for tid, n := range exits {
		if n != 1 {
			t.Errorf("tid %d: exit reported %d times", tid, n)
		}
	}
}
