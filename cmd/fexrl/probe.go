package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/fexrl/fexrl/robustlist2"
)

func runProbe(e *env, args []string) int {
	fs := newFlags(e, "probe", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "probe", err)
	}
	if err := noArgs(e, fs); err != nil {
		return exitCode(e, "probe", err)
	}
	runtime.LockOSThread()
	caps := robustlist2.ProbeHost(nil)
	runtime.UnlockOSThread()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return exitCode(e, "probe", enc.Encode(caps))
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no (ENOSYS)"
	}
	fmt.Fprintf(e.stdout, "host: %s/%s, %s pointers\n", runtime.GOOS, runtime.GOARCH, caps.Bits)
	fmt.Fprintf(e.stdout, "set_robust_list2: %s", yes(caps.RobustList2))
	if caps.RobustList2 {
		fmt.Fprintf(e.stdout, " (list limit %d)", caps.RobustList2Limit)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "set_robust_list: %s", yes(caps.Legacy))
	if caps.Legacy {
		if caps.LegacyInUse {
			fmt.Fprint(e.stdout, " (this thread's slot is taken by fexrl's own libc)")
		} else {
			fmt.Fprint(e.stdout, " (this thread's slot is free)")
		}
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "FUTEX_ROBUST_UNLOCK: %s", yes(caps.RobustUnlock))
	if caps.RobustUnlock {
		fmt.Fprintln(e.stdout, ": guest robust unlocks pass through, with FUTEX_ROBUST_LIST32 added for 32-bit guests")
	} else {
		fmt.Fprintln(e.stdout, ": fexrl performs guest robust unlocks itself")
	}
	switch {
	case caps.RobustList2:
		fmt.Fprintln(e.stdout, "back end: guest lists go to the host's set_robust_list2")
	case caps.Legacy:
		fmt.Fprintln(e.stdout, "back end: fexrl walks 32-bit guest lists; a 64-bit guest list may use the host's set_robust_list when the emulator leaves it free")
	default:
		fmt.Fprintln(e.stdout, "back end: fexrl walks every guest list itself")
	}
	return 0
}
