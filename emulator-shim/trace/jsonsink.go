package trace

import (
	"bufio"
	"io"
	"strconv"

	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/translator"
)

// JSONSink prints a replay as JSON Lines: a header object, one object
// per event and an end object (see the package documentation). With
// Check set, steps carry their "diffs".
type JSONSink struct {
	bw    *bufio.Writer
	buf   []byte
	check bool
	names *TextSink // for syscall names
}

// NewJSONSink returns a JSONSink writing to w.
func NewJSONSink(w io.Writer, check bool) *JSONSink {
	return &JSONSink{bw: bufio.NewWriterSize(w, 256<<10), check: check, names: NewTextSink(io.Discard, false)}
}

func (p *JSONSink) write(b []byte) error {
	b = append(b, '\n')
	p.buf = b[:0]
	_, err := p.bw.Write(b)
	return err
}

// Flush writes out what is buffered.
func (p *JSONSink) Flush() error { return p.bw.Flush() }

// Header prints the header object.
func (p *JSONSink) Header(h Header) error {
	b := append(p.buf[:0], `{"ev":"header","format":`...)
	b = appendString(b, Format)
	b = appendIntMember(b, "version", int64(h.Version))
	b = appendStringMember(b, "source", h.Source)
	b = append(b, `,"abis":[`...)
	for i, a := range h.ABIs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, a)
	}
	b = append(b, `],"host":{"os":`...)
	b = appendString(b, h.Host.OS)
	b = appendStringMember(b, "arch", h.Host.Arch)
	b = appendStringMember(b, "kernel", h.Host.Kernel)
	b = append(b, `},"config":{"mode":`...)
	b = appendString(b, h.Config.Mode)
	b = appendBoolMember(b, "robust_list2", h.Config.RobustList2)
	b = appendBoolMember(b, "unbounded", h.Config.Unbounded)
	b = appendBoolMember(b, "kernel_unlock_rule", h.Config.KernelUnlockRule)
	b = appendIntMember(b, "list_limit", int64(h.Config.ListLimit))
	b = append(b, "}}"...)
	return p.write(b)
}

func appendListsJSON(b []byte, lists []robustlist2.IndexedSlot) []byte {
	b = append(b, `,"lists":[`...)
	for i, l := range lists {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(l.Index), 10)
		b = appendStringMember(b, "name", robustlist2.SlotName(l.Index))
		b = appendUintMember(b, "head", l.Head)
		b = appendIntMember(b, "bits", int64(l.Bits))
		b = appendStringMember(b, "backend", l.Backend.String())
		b = append(b, '}')
	}
	return append(b, ']')
}

// Step prints one replayed event.
func (p *JSONSink) Step(s *Step) error {
	e := s.Event
	b := append(p.buf[:0], `{"line":`...)
	b = strconv.AppendInt(b, s.Line, 10)
	b = appendStringMember(b, "ev", e.Kind.String())
	b = appendIntMember(b, "tid", int64(e.TID))
	switch e.Kind {
	case KindTask:
		b = appendIntMember(b, "tgid", int64(e.TGID))
		b = appendIntMember(b, "parent", int64(e.Parent))
		if e.ABI != "" {
			b = appendStringMember(b, "abi", e.ABI)
		}
		b = appendUintMember(b, "flags", e.Flags)
	case KindSyscall:
		b = appendStringMember(b, "abi", e.ABI)
		b = appendIntMember(b, "nr", int64(e.Nr))
		b = append(b, `,"name":"`...)
		b = p.names.syscallName(b, e.ABI, e.Nr, s.Call)
		b = append(b, `","args":[`...)
		for i, a := range e.Args {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, a, 10)
		}
		b = append(b, ']')
		if e.UnknownArgs != 0 {
			b = appendIntMember(b, "unknown_args_mask", int64(e.UnknownArgs))
		}
		b = appendBoolMember(b, "handled", s.Handled)
		if s.Handled {
			b = appendIntMember(b, "ret", s.Ret)
		}
		if e.HasRet {
			b = appendIntMember(b, "recorded_ret", e.Ret)
		}
		if s.Site != "" {
			b = appendStringMember(b, "site", s.Site)
		}
		if s.IsUnlock {
			b = append(b, `,"unlock":{"word":`...)
			b = strconv.AppendUint(b, s.Unlock.Uaddr, 10)
			b = appendIntMember(b, "nr_wake", int64(s.Unlock.NrWake))
			b = appendUintMember(b, "pending_slot", s.Unlock.Pop)
			b = appendBoolMember(b, "pending_slot_32", s.Unlock.Pop32)
			b = append(b, '}')
		}
		if len(s.Stores) > 0 {
			b = append(b, `,"stores":[`...)
			for i, st := range s.Stores {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"addr":`...)
				b = strconv.AppendUint(b, st.Addr, 10)
				b = appendIntMember(b, "size", int64(st.Size))
				b = appendUintMember(b, "value", st.Value)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if s.Handled && s.Ret >= 0 && (s.Call == translator.KindSetRobustList || s.Call == translator.KindSetRobustList2) {
			b = appendListsJSON(b, s.Lists)
		}
		if e.SrcLine != 0 {
			b = appendIntMember(b, "src_line", e.SrcLine)
		}
	case KindExit, KindExec:
		b = appendIntMember(b, "tgid", int64(e.TGID))
		if e.Kind == KindExit {
			b = appendStringMember(b, "cause", e.Cause.String())
		} else {
			b = appendIntMember(b, "former", int64(e.Former))
		}
		b = appendBoolMember(b, "known", s.Known)
		b = appendBoolMember(b, "walked", s.Walked)
		if !s.Walked && s.Known {
			b = appendListsJSON(b, s.Lists)
		}
		if s.Walked {
			b = append(b, `,"walks":[`...)
			for i := range s.Walks {
				if i > 0 {
					b = append(b, ',')
				}
				b = AppendWalk(b, &s.Walks[i])
			}
			b = append(b, `],"writes":[`...)
			for i, w := range s.Writes {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"addr":`...)
				b = strconv.AppendUint(b, w.Addr, 10)
				b = appendIntMember(b, "size", int64(w.Size))
				b = appendUintMember(b, "old", w.Old)
				b = appendUintMember(b, "new", w.New)
				b = append(b, '}')
			}
			b = append(b, `],"wakes":[`...)
			for i, w := range s.Wakes {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"addr":`...)
				b = strconv.AppendUint(b, w.Addr, 10)
				b = appendIntMember(b, "n", int64(w.N))
				b = appendIntMember(b, "woken", int64(w.Woken))
				if w.Err != nil {
					b = appendStringMember(b, "error", w.Err.Error())
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
	}
	if p.check {
		b = append(b, `,"diffs":[`...)
		for i, d := range s.Diffs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, d)
		}
		b = append(b, ']')
		if s.MoreDiffs > 0 {
			b = appendIntMember(b, "more_diffs", int64(s.MoreDiffs))
		}
	}
	b = append(b, '}')
	return p.write(b)
}

// End prints the end object and flushes.
func (p *JSONSink) End(e *End) error {
	b := append(p.buf[:0], `{"ev":"end","events":`...)
	b = strconv.AppendInt(b, e.Events, 10)
	b = appendIntMember(b, "tasks", e.Tasks)
	b = appendIntMember(b, "syscalls", e.Syscall)
	b = appendIntMember(b, "exits", e.Exits)
	b = appendIntMember(b, "execs", e.Execs)
	st := e.Stats
	b = append(b, `,"stats":{"tasks":`...)
	b = strconv.AppendInt(b, st.Tasks, 10)
	b = appendIntMember(b, "lists_registered", st.ListsRegistered)
	b = appendIntMember(b, "walks", st.Walks)
	b = appendIntMember(b, "entries_walked", st.EntriesWalked)
	b = appendIntMember(b, "owner_died_marked", st.OwnerDiedMarked)
	b = appendIntMember(b, "woken", st.Woken)
	b = appendIntMember(b, "wake_errors", st.WakeErrors)
	b = appendIntMember(b, "limit_hits", st.LimitHits)
	b = appendIntMember(b, "walk_faults", st.WalkFaults)
	b = appendIntMember(b, "unknown_tasks", st.UnknownTasks)
	b = appendIntMember(b, "host_walked_lists", st.HostWalked)
	b = appendIntMember(b, "unlock_windows", st.UnlockWindows)
	b = append(b, `},"alive":[`...)
	for i, t := range e.Alive {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"tid":`...)
		b = strconv.AppendInt(b, int64(t.TID), 10)
		b = appendIntMember(b, "tgid", int64(t.TGID))
		b = appendListsJSON(b, t.Lists)
		b = append(b, '}')
	}
	b = append(b, ']')
	if p.check {
		b = appendIntMember(b, "diffs", e.Diffs)
		b = appendIntMember(b, "diff_events", e.DiffEvents)
	}
	b = append(b, '}')
	if err := p.write(b); err != nil {
		return err
	}
	return p.bw.Flush()
}
