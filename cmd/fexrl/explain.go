package main

import (
	"fmt"
	"io"
	"strings"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// walkEntry is one list walk of a task's death or exec.
type walkEntry struct {
	TID   int32                `json:"tid"`
	TGID  int32                `json:"tgid"`
	Cause shim.Cause           `json:"cause"`
	Walk  robustlist2.ListWalk `json:"walk"`
}

// explainWalks prints a run's counters and every walk that did something,
// for a human.
func explainWalks(w io.Writer, mode string, tasks int, s shim.Stats, walks []walkEntry) {
	fmt.Fprintf(w, "fexrl (%s): %d task(s), %d list(s) registered, %d walk(s), %d entr(ies) walked, %d marked OWNER_DIED, %d waiter(s) woken, %d limit hit(s)\n",
		mode, tasks, s.ListsRegistered, s.Walks, s.EntriesWalked, s.OwnerDiedMarked, s.Woken, s.LimitHits)
	for _, we := range walks {
		r := we.Walk.Report
		if r == nil {
			fmt.Fprintf(w, "  tid %d (%s): list %s at %#x walked by the host kernel (%s)\n", we.TID, we.Cause,
				robustlist2.SlotName(we.Walk.Index), we.Walk.Slot.Head, we.Walk.Slot.Backend)
			continue
		}
		if len(r.Entries) == 0 && r.Stop == robustlist2.StopEnd {
			continue
		}
		fmt.Fprintf(w, "  tid %d (%s): %s list %s, head %#x, futex_offset %d: %d entr(ies), stop: %s\n",
			we.TID, we.Cause, r.Bits, robustlist2.SlotName(we.Walk.Index), r.Head, r.FutexOffset, r.Visited, r.Stop)
		for _, en := range r.Entries {
			kind := "entry"
			if en.Pending {
				kind = "pending"
			}
			var extra []string
			if en.PI {
				extra = append(extra, "PI")
			}
			if en.Wakes > 0 {
				if en.Woken >= 0 {
					extra = append(extra, fmt.Sprintf("woke %d waiter(s)", en.Woken))
				} else {
					extra = append(extra, "wake failed")
				}
			}
			fmt.Fprintf(w, "    %-7s %#x, futex word %#x: %s, %s -> %s", kind, en.Node, en.Word, en.Action, wordString(en.Old), wordString(en.New))
			if len(extra) > 0 {
				fmt.Fprintf(w, ", %s", strings.Join(extra, ", "))
			}
			fmt.Fprintln(w)
		}
	}
}
