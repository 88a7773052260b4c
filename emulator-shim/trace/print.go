package trace

import (
	"bufio"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/translator"
)

// TextSink prints a replay for people: one block per event, addresses
// in hex. With Check set it also prints the differences from the
// recorded outcome.
type TextSink struct {
	bw     *bufio.Writer
	buf    []byte
	check  bool
	arch32 abi.Arch
	arch64 abi.Arch
}

// NewTextSink returns a TextSink writing to w; call Flush (or End) at
// the end.
func NewTextSink(w io.Writer, check bool) *TextSink {
	return &TextSink{bw: bufio.NewWriterSize(w, 256<<10), check: check, arch32: x86_32.Arch(), arch64: x86_64.Arch()}
}

// Flush writes out what is buffered.
func (p *TextSink) Flush() error { return p.bw.Flush() }

func (p *TextSink) write(b []byte) error {
	p.buf = b[:0]
	_, err := p.bw.Write(b)
	return err
}

// Header prints the trace's header.
func (p *TextSink) Header(h Header) error {
	b := p.buf[:0]
	b = append(b, "trace: "...)
	b = append(b, Format...)
	b = append(b, " v"...)
	b = strconv.AppendInt(b, int64(h.Version), 10)
	b = append(b, ", source "...)
	b = append(b, h.Source...)
	b = append(b, ", guest "...)
	b = append(b, strings.Join(h.ABIs, "+")...)
	b = append(b, ", host "...)
	b = append(b, h.Host.OS...)
	b = append(b, '/')
	b = append(b, h.Host.Arch...)
	if h.Host.Kernel != "" {
		b = append(b, " kernel "...)
		b = append(b, h.Host.Kernel...)
	}
	b = append(b, '\n')
	if len(h.Command) > 0 {
		b = append(b, "command: "...)
		for i, a := range h.Command {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendShellWord(b, a)
		}
		b = append(b, '\n')
	}
	c := h.Config
	b = append(b, "config: mode "...)
	if c.Mode == "" {
		b = append(b, "unknown"...)
	} else {
		b = append(b, c.Mode...)
	}
	if c.RobustList2 {
		b = append(b, ", set_robust_list2 answered"...)
	} else {
		b = append(b, ", set_robust_list2 ENOSYS"...)
	}
	limit := c.ListLimit
	if limit == 0 {
		limit = abi.RobustList2DefaultListLimit
	}
	b = append(b, " (list limit "...)
	b = strconv.AppendInt(b, int64(limit), 10)
	b = append(b, ')')
	if c.Unbounded {
		b = append(b, ", unbounded walks"...)
	} else {
		b = append(b, ", walk limit 2048"...)
	}
	if c.KernelUnlockRule {
		b = append(b, ", kernel pending rule in unlock windows"...)
	} else {
		b = append(b, ", wake-only pending rule in unlock windows"...)
	}
	b = append(b, "\n\n"...)
	return p.write(b)
}

// appendShellWord appends s, quoted if it needs it.
func appendShellWord(b []byte, s string) []byte {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, s)
}

// appendHex appends 0x and v in lowercase hex, writing in place.
func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	n := max(1, (bits.Len64(v)+3)/4)
	l := len(b) + 2
	b = slices.Grow(b, n+2)[:l+n]
	b[l-2], b[l-1] = '0', 'x'
	for i := l + n - 1; i >= l; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return b
}

// appendArg formats a syscall argument: small values in decimal,
// others (addresses, flags) in hex.
func appendArg(b []byte, v uint64) []byte {
	if v < 0x1000 {
		return strconv.AppendUint(b, v, 10)
	}
	return appendHex(b, v)
}

func appendRet(b []byte, v int64) []byte {
	if v < 0 && v >= -translator.MaxErrno {
		b = strconv.AppendInt(b, v, 10)
		if name := unix.ErrnoName(unix.Errno(-v)); name != "" {
			b = append(b, " ("...)
			b = append(b, name...)
			b = append(b, ')')
		}
		return b
	}
	if v >= 0x10000 {
		return appendHex(b, uint64(v))
	}
	return strconv.AppendInt(b, v, 10)
}

// nargs is how many arguments a syscall of kind k takes, for printing.
func nargs(k translator.Kind) int {
	switch k {
	case translator.KindSetRobustList, translator.KindClone3:
		return 2
	case translator.KindGetRobustList, translator.KindExecve:
		return 3
	case translator.KindSetRobustList2, translator.KindGetRobustList2:
		return 4
	case translator.KindClone, translator.KindExecveat:
		return 5
	case translator.KindExit, translator.KindExitGroup:
		return 1
	case translator.KindFork, translator.KindVfork:
		return 0
	}
	return 6
}

// syscallName names syscall nr of the ABI called abiName.
func (p *TextSink) syscallName(b []byte, abiName string, nr int32, k translator.Kind) []byte {
	if k != translator.KindOther {
		return append(b, k.String()...)
	}
	a := p.arch64
	if abiName == ABIx86_32 {
		a = p.arch32
	}
	if name := a.Syscalls.Name(int(nr)); name != "" {
		return append(b, name...)
	}
	b = append(b, "syscall_"...)
	return strconv.AppendInt(b, int64(nr), 10)
}

func appendLinePrefix(b []byte, s *Step) []byte {
	b = append(b, "line "...)
	b = strconv.AppendInt(b, s.Line, 10)
	b = append(b, ": tid "...)
	return strconv.AppendInt(b, int64(s.Event.TID), 10)
}

func appendList(b []byte, l robustlist2.IndexedSlot) []byte {
	b = append(b, robustlist2.SlotName(l.Index)...)
	b = append(b, " (index "...)
	b = strconv.AppendInt(b, int64(l.Index), 10)
	b = append(b, ") "...)
	b = appendBits(b, l.Bits)
	b = append(b, " head "...)
	b = appendHex(b, l.Head)
	if l.Backend != robustlist2.BackendWalk {
		b = append(b, ", walked by "...)
		b = append(b, l.Backend.String()...)
	}
	return b
}

// appendBits is abi.Bits.String without its allocation.
func appendBits(b []byte, bits abi.Bits) []byte {
	switch bits {
	case abi.Bits32:
		return append(b, "32-bit"...)
	case abi.Bits64:
		return append(b, "64-bit"...)
	}
	return append(b, bits.String()...)
}

func appendLists(b []byte, indent string, lists []robustlist2.IndexedSlot) []byte {
	b = append(b, indent...)
	b = append(b, "lists: "...)
	if len(lists) == 0 {
		b = append(b, "none"...)
	}
	for i, l := range lists {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = appendList(b, l)
	}
	return append(b, '\n')
}

// Step prints one replayed event.
func (p *TextSink) Step(s *Step) error {
	e := s.Event
	b := appendLinePrefix(p.buf[:0], s)
	switch e.Kind {
	case KindTask:
		if e.Parent == 0 {
			b = append(b, ": start"...)
		} else {
			b = append(b, ": created by tid "...)
			b = strconv.AppendInt(b, int64(e.Parent), 10)
		}
		b = append(b, ", tgid "...)
		b = strconv.AppendInt(b, int64(e.TGID), 10)
		if e.ABI != "" {
			b = append(b, ", "...)
			b = append(b, e.ABI...)
		}
		if e.Flags != 0 {
			b = append(b, ", flags "...)
			b = appendHex(b, e.Flags)
		}
		b = append(b, '\n')
	case KindSyscall:
		b = p.syscall(b, s)
	case KindExit, KindExec:
		b = p.exit(b, s)
	}
	if p.check {
		for _, d := range s.Diffs {
			b = append(b, "    DIFF: "...)
			b = append(b, d...)
			b = append(b, '\n')
		}
		if s.MoreDiffs > 0 {
			b = append(b, "    DIFF: and "...)
			b = strconv.AppendInt(b, int64(s.MoreDiffs), 10)
			b = append(b, " more\n"...)
		}
	}
	return p.write(b)
}

func (p *TextSink) syscall(b []byte, s *Step) []byte {
	e := s.Event
	b = append(b, ": "...)
	if e.ABI == ABIx86_32 {
		b = append(b, "i386 "...)
	}
	b = p.syscallName(b, e.ABI, e.Nr, s.Call)
	b = append(b, '(')
	for i := 0; i < nargs(s.Call); i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		if e.UnknownArgs&(1<<i) != 0 {
			b = append(b, '?')
			continue
		}
		b = appendArg(b, e.Args[i])
	}
	b = append(b, ')')
	switch {
	case s.Handled:
		b = append(b, " = "...)
		b = appendRet(b, s.Ret)
		if s.IsUnlock {
			b = append(b, " (robust unlock performed by fexrl; the count is the host's wake)"...)
		}
	case e.HasRet:
		b = append(b, ": passed to the emulator, which returned "...)
		b = appendRet(b, e.Ret)
	default:
		b = append(b, ": passed to the emulator"...)
	}
	if e.SrcLine != 0 {
		b = append(b, "  [log line "...)
		b = strconv.AppendInt(b, e.SrcLine, 10)
		b = append(b, ']')
	}
	b = append(b, '\n')
	if s.Site != "" {
		b = append(b, "    site: "...)
		b = append(b, s.Site...)
		b = append(b, '\n')
	}
	if s.IsUnlock {
		u := s.Unlock
		b = append(b, "    unlock: release word "...)
		b = appendHex(b, u.Uaddr)
		b = append(b, ", wake up to "...)
		b = strconv.AppendInt(b, int64(u.NrWake), 10)
		b = append(b, ", clear pending slot "...)
		b = appendHex(b, u.Pop)
		if u.Pop32 {
			b = append(b, " (32-bit)"...)
		}
		b = append(b, '\n')
	}
	for _, st := range s.Stores {
		b = append(b, "    stored "...)
		b = appendArg(b, st.Value)
		b = append(b, " at "...)
		b = appendHex(b, st.Addr)
		b = append(b, " ("...)
		b = strconv.AppendInt(b, int64(st.Size), 10)
		b = append(b, " bytes)\n"...)
	}
	if s.Call == translator.KindSetRobustList || s.Call == translator.KindSetRobustList2 {
		if s.Handled && s.Ret >= 0 {
			b = appendLists(b, "    ", s.Lists)
		}
	}
	return b
}

func (p *TextSink) exit(b []byte, s *Step) []byte {
	e := s.Event
	if e.Kind == KindExit {
		b = append(b, ": exit ("...)
		b = append(b, e.Cause.String()...)
		b = append(b, ')')
	} else {
		b = append(b, ": exec"...)
		if e.Former != 0 && e.Former != e.TID {
			b = append(b, " by tid "...)
			b = strconv.AppendInt(b, int64(e.Former), 10)
		}
	}
	if e.TGID != 0 {
		b = append(b, ", tgid "...)
		b = strconv.AppendInt(b, int64(e.TGID), 10)
	}
	if e.HasRegs {
		b = append(b, ", ip "...)
		b = appendHex(b, e.Regs.IP)
	}
	if !s.Known {
		b = append(b, ": task unknown to replay"...)
	}
	if !s.Walked {
		b = append(b, ": no memory recorded, lists not walked\n"...)
		if s.Known {
			b = appendLists(b, "    ", s.Lists)
		}
		return b
	}
	b = append(b, ": "...)
	b = strconv.AppendInt(b, int64(len(s.Walks)), 10)
	b = append(b, " list(s)\n"...)
	for i := range s.Walks {
		b = appendWalkText(b, &s.Walks[i])
	}
	if len(s.Writes) > 0 || len(s.Wakes) > 0 {
		b = append(b, "    wrote "...)
		b = strconv.AppendInt(b, int64(len(s.Writes)), 10)
		b = append(b, " word(s), "...)
		b = strconv.AppendInt(b, int64(len(s.Wakes)), 10)
		b = append(b, " wake(s)\n"...)
	}
	return b
}

// appendWalkText prints one walk: the list, then each entry with its
// old and new futex word and wake.
func appendWalkText(b []byte, w *robustlist2.ListWalk) []byte {
	b = append(b, "    list "...)
	b = appendList(b, robustlist2.IndexedSlot{Index: w.Index, Slot: w.Slot})
	r := w.Report
	if r == nil {
		return append(b, ": the host kernel walks it\n"...)
	}
	b = append(b, ", futex_offset "...)
	b = strconv.AppendInt(b, r.FutexOffset, 10)
	b = append(b, ", pending "...)
	if r.PendingNode == 0 {
		b = append(b, "none"...)
	} else {
		b = appendHex(b, r.PendingNode)
	}
	b = append(b, ": stop "...)
	b = append(b, r.Stop.String()...)
	b = append(b, ", "...)
	b = strconv.AppendInt(b, int64(r.Visited), 10)
	b = append(b, " visited, "...)
	b = strconv.AppendInt(b, int64(r.Marked), 10)
	b = append(b, " marked, "...)
	b = strconv.AppendInt(b, int64(r.Woken), 10)
	b = append(b, " woken"...)
	if r.WakeErrors > 0 {
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(r.WakeErrors), 10)
		b = append(b, " wake error(s)"...)
	}
	b = append(b, '\n')
	for _, en := range r.Entries {
		if en.Pending {
			b = append(b, "      pending node "...)
		} else {
			b = append(b, "      entry   node "...)
		}
		b = appendHex(b, en.Node)
		b = append(b, " word "...)
		b = appendHex(b, en.Word)
		if en.PI {
			b = append(b, " PI"...)
		}
		b = append(b, ": "...)
		b = append(b, en.Action.String()...)
		b = append(b, ' ')
		b = appendWord(b, en.Old)
		b = append(b, " -> "...)
		b = appendWord(b, en.New)
		if en.Wakes > 0 {
			if en.Woken >= 0 {
				b = append(b, ", wake: "...)
				b = strconv.AppendInt(b, int64(en.Woken), 10)
				b = append(b, " woken"...)
			} else {
				b = append(b, ", wake failed"...)
			}
		}
		b = append(b, '\n')
	}
	if r.Truncated {
		b = append(b, "      (more entries not recorded)\n"...)
	}
	return b
}

func appendWord(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '0', 'x')
	for s := 28; s >= 0; s -= 4 {
		b = append(b, digits[v>>uint(s)&15])
	}
	return b
}

// End prints the summary and flushes.
func (p *TextSink) End(e *End) error {
	b := append(p.buf[:0], "\nend: "...)
	b = strconv.AppendInt(b, e.Events, 10)
	b = append(b, " event(s): "...)
	b = strconv.AppendInt(b, e.Tasks, 10)
	b = append(b, " task(s) created, "...)
	b = strconv.AppendInt(b, e.Syscall, 10)
	b = append(b, " syscall(s), "...)
	b = strconv.AppendInt(b, e.Exits, 10)
	b = append(b, " exit(s), "...)
	b = strconv.AppendInt(b, e.Execs, 10)
	b = append(b, " exec(s)\n"...)
	st := e.Stats
	b = append(b, "fexrl: "...)
	b = strconv.AppendInt(b, st.ListsRegistered, 10)
	b = append(b, " list(s) registered, "...)
	b = strconv.AppendInt(b, st.Walks, 10)
	b = append(b, " walk(s), "...)
	b = strconv.AppendInt(b, st.EntriesWalked, 10)
	b = append(b, " entr(ies) walked, "...)
	b = strconv.AppendInt(b, st.OwnerDiedMarked, 10)
	b = append(b, " marked OWNER_DIED, "...)
	b = strconv.AppendInt(b, st.Woken, 10)
	b = append(b, " waiter(s) woken, "...)
	b = strconv.AppendInt(b, st.LimitHits, 10)
	b = append(b, " limit hit(s), "...)
	b = strconv.AppendInt(b, st.WalkFaults, 10)
	b = append(b, " walk(s) stopped by a fault, "...)
	b = strconv.AppendInt(b, st.UnlockWindows, 10)
	b = append(b, " unlock window(s)\n"...)
	b = append(b, "alive at the end: "...)
	b = strconv.AppendInt(b, int64(len(e.Alive)), 10)
	b = append(b, " task(s)\n"...)
	for _, t := range e.Alive {
		b = append(b, "  tid "...)
		b = strconv.AppendInt(b, int64(t.TID), 10)
		b = append(b, " (tgid "...)
		b = strconv.AppendInt(b, int64(t.TGID), 10)
		b = append(b, ")"...)
		b = appendLists(b, " ", t.Lists)
	}
	if p.check {
		b = append(b, "check: "...)
		if e.Diffs == 0 {
			b = append(b, "replay matches the recorded outcome\n"...)
		} else {
			b = strconv.AppendInt(b, e.Diffs, 10)
			b = append(b, " difference(s) in "...)
			b = strconv.AppendInt(b, e.DiffEvents, 10)
			b = append(b, " event(s)\n"...)
		}
	}
	if err := p.write(b); err != nil {
		return err
	}
	return p.Flush()
}
