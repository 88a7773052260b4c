//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fexrl/fexrl/emulator-shim/server"
)

// runStatus is `fexrl status`: what a running server knows about its
// tree, with the robust mutexes each live guest thread holds now.
func runStatus(e *env, args []string) int {
	fs := newFlags(e, "status", "[--socket ADDR] [--json]")
	var sock string
	var asJSON bool
	fs.StringVar(&sock, "socket", os.Getenv("FEXRL_SOCKET"), "the server's `ADDR` (default $FEXRL_SOCKET)")
	fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "status", err)
	}
	if err := noArgs(e, fs); err != nil {
		return 2
	}
	if sock == "" {
		fmt.Fprintln(e.stderr, "fexrl status: no server address: give --socket or set FEXRL_SOCKET")
		return 2
	}
	st, err := server.QueryStatus(sock)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl status: %v\n", err)
		return 1
	}
	if asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return 0
	}
	printStatus(e.stdout, st)
	return 0
}

func printStatus(w io.Writer, st server.Status) {
	s := st.Stats
	fmt.Fprintf(w, "fexrl server pid %d (protocol %d), up %s: %d process(es); %d task(s) seen, %d list(s) registered, %d walk(s), %d marked OWNER_DIED, %d waiter(s) woken\n",
		st.PID, st.Protocol, st.Uptime, len(st.Processes), s.Tasks, s.ListsRegistered, s.Walks, s.OwnerDiedMarked, s.Woken)
	fmt.Fprintf(w, "back end: %s\n", st.Backend)
	fmt.Fprintf(w, "guard: %s", st.Guard)
	if st.Guard == "on" {
		fmt.Fprintf(w, " (%d walk(s) of deaths the emulator could not report)", st.GuardWalks)
	}
	fmt.Fprintln(w)
	for _, p := range st.Processes {
		fmt.Fprintf(w, "process %d", p.PID)
		if p.Program != "" {
			fmt.Fprintf(w, " %s", p.Program)
		}
		if p.GuestBits != 0 {
			fmt.Fprintf(w, " (%d-bit guest, guest_base %#x)", p.GuestBits, p.GuestBase)
		}
		if p.ForkedFrom != 0 {
			fmt.Fprintf(w, ", forked from %d", p.ForkedFrom)
		}
		if !p.Connected {
			fmt.Fprintf(w, ", disconnected")
		}
		fmt.Fprintln(w)
		for _, t := range p.Tasks {
			if len(t.Lists) == 0 {
				fmt.Fprintf(w, "  tid %d: no robust list\n", t.TID)
				continue
			}
			for _, l := range t.Lists {
				fmt.Fprintf(w, "  tid %d: list %s (index %d), %d-bit, head %#x, %s", t.TID, l.Name, l.Index, l.Bits, l.Head, l.Backend)
				if l.Error != "" {
					fmt.Fprintf(w, ": cannot read: %s\n", l.Error)
					continue
				}
				fmt.Fprintf(w, ": %d entr(ies), %d held, stop: %s\n", l.Entries, len(l.Held), l.Stop)
				for _, h := range l.Held {
					fmt.Fprintf(w, "    holds   %#x, futex word %#x = %s%s\n", h.Node, h.Word, wordString(h.Value), pi(h.PI))
				}
				if h := l.Pending; h != nil {
					own := "not held"
					if h.Owned {
						own = "held"
					}
					fmt.Fprintf(w, "    pending %#x, futex word %#x = %s (%s)%s\n", h.Node, h.Word, wordString(h.Value), own, pi(h.PI))
				}
			}
		}
	}
}

func pi(b bool) string {
	if b {
		return ", PI"
	}
	return ""
}
