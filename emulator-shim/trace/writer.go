package trace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/fexrl/fexrl/robustlist2"
)

// Writer writes a trace: the header, then one event per line. Members
// come in a fixed order and zero-valued optional members are left out,
// so the same events always give the same bytes.
type Writer struct {
	bw     *bufio.Writer
	buf    []byte
	header bool
	hdr    Header
	hdrLen int // the header line's length, padding included, newline not
}

// ABIReserve is the padding WriteHeaderPadded needs so that
// RewriteHeader can later list both guest ABIs in a header first
// written with one.
const ABIReserve = len(`,"x86_32","x86_64"`)

// NewWriter returns a Writer that writes to w. Call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 256<<10)}
}

// WriteHeader writes the header line; it must come first, once.
func (w *Writer) WriteHeader(h Header) error { return w.WriteHeaderPadded(h, 0) }

// WriteHeaderPadded writes the header line with pad spaces before its
// newline, room for a writer that rewrites the header in place later
// (readers ignore the spaces).
func (w *Writer) WriteHeaderPadded(h Header, pad int) error {
	if w.header {
		return fmt.Errorf("trace: header written twice")
	}
	b, err := AppendHeader(w.buf[:0], h)
	if err != nil {
		return err
	}
	for ; pad > 0; pad-- {
		b = append(b, ' ')
	}
	w.hdr, w.hdrLen = h, len(b)
	b = append(b, '\n')
	w.header = true
	w.buf = b
	_, err = w.bw.Write(b)
	return err
}

// AppendHeader appends the JSON of h (without a newline) to b. The
// version written is always Version.
func AppendHeader(b []byte, h Header) ([]byte, error) {
	if len(h.ABIs) == 0 || h.Host.OS == "" || h.Host.Arch == "" || h.Source == "" {
		return b, fmt.Errorf("trace: a header needs ABIs, a host OS and arch, and a source")
	}
	for _, a := range h.ABIs {
		if _, ok := guestABI([]byte(a)); !ok {
			return b, fmt.Errorf("trace: unknown guest ABI %q", a)
		}
	}
	if h.Config.ListLimit < 0 || h.Config.ListLimit > MaxListLimit {
		return b, fmt.Errorf("trace: list limit %d out of range", h.Config.ListLimit)
	}
	switch h.Config.Mode {
	case "", "emulated", "native":
	default:
		return b, fmt.Errorf("trace: unknown mode %q", h.Config.Mode)
	}
	b = append(b, `{"format":`...)
	b = appendString(b, Format)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"abis":[`...)
	for i, a := range h.ABIs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, a)
	}
	b = append(b, `],"host":{"os":`...)
	b = appendString(b, h.Host.OS)
	b = append(b, `,"arch":`...)
	b = appendString(b, h.Host.Arch)
	if h.Host.Kernel != "" {
		b = append(b, `,"kernel":`...)
		b = appendString(b, h.Host.Kernel)
	}
	b = append(b, `},"source":`...)
	b = appendString(b, h.Source)
	if h.Command != nil {
		b = append(b, `,"command":[`...)
		for i, a := range h.Command {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	c := h.Config
	b = append(b, `,"config":{"mode":`...)
	b = appendString(b, c.Mode)
	b = appendBoolMember(b, "robust_list2", c.RobustList2)
	b = appendBoolMember(b, "unbounded", c.Unbounded)
	b = appendBoolMember(b, "kernel_unlock_rule", c.KernelUnlockRule)
	if c.ListLimit != 0 {
		b = appendIntMember(b, "list_limit", int64(c.ListLimit))
	}
	return append(b, "}}"...), nil
}

// WriteEvent writes one event line.
func (w *Writer) WriteEvent(e *Event) error {
	if !w.header {
		return fmt.Errorf("trace: event before the header")
	}
	b, err := AppendEvent(w.buf[:0], e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.buf = b
	_, err = w.bw.Write(b)
	return err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }

// RewriteHeader flushes w and writes h over the header at the start of
// f, the file w writes to, padded to the length of the header written
// first (which needs room for it: see WriteHeaderPadded and ABIReserve).
// It is how a writer that learns the guest ABIs only while writing puts
// them in the header.
func (w *Writer) RewriteHeader(f io.WriterAt, h Header) error {
	if !w.header {
		return fmt.Errorf("trace: no header to rewrite")
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	line, err := AppendHeader(nil, h)
	if err != nil {
		return err
	}
	if len(line) > w.hdrLen {
		return fmt.Errorf("trace: the new header (%d bytes) does not fit in the old one (%d)", len(line), w.hdrLen)
	}
	for len(line) < w.hdrLen {
		line = append(line, ' ')
	}
	if _, err := f.WriteAt(line, 0); err != nil {
		return fmt.Errorf("trace: rewriting the header: %w", err)
	}
	w.hdr = h
	return nil
}

// SortABIs returns the guest ABIs of set in the header's order.
func SortABIs(set map[string]bool) []string {
	var out []string
	for _, a := range []string{ABIx86_32, ABIx86_64} {
		if set[a] {
			out = append(out, a)
		}
	}
	return out
}

// AppendEvent appends the JSON of e (without a newline) to b.
func AppendEvent(b []byte, e *Event) ([]byte, error) {
	if e.TID <= 0 {
		return b, fmt.Errorf("trace: %s event with TID %d", e.Kind, e.TID)
	}
	b = append(b, `{"ev":"`...)
	b = append(b, e.Kind.String()...)
	b = append(b, '"')
	b = appendIntMember(b, "tid", int64(e.TID))
	switch e.Kind {
	case KindTask:
		if e.TGID <= 0 {
			return b, fmt.Errorf("trace: task event with TGID %d", e.TGID)
		}
		b = appendIntMember(b, "tgid", int64(e.TGID))
		if e.Parent != 0 {
			b = appendIntMember(b, "parent", int64(e.Parent))
		}
		if e.ABI != "" {
			b = appendStringMember(b, "abi", e.ABI)
		}
		if e.Flags != 0 {
			b = appendUintMember(b, "flags", e.Flags)
		}
	case KindSyscall:
		if e.ABI == "" {
			return b, fmt.Errorf("trace: syscall event without an ABI")
		}
		b = appendStringMember(b, "abi", e.ABI)
		b = appendIntMember(b, "nr", int64(e.Nr))
		b = append(b, `,"args":[`...)
		for i, a := range e.Args {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, a, 10)
		}
		b = append(b, ']')
		if e.HasRet {
			b = appendIntMember(b, "ret", e.Ret)
		}
		if e.Handled {
			b = appendBoolMember(b, "handled", true)
		}
		if len(e.Code) > 0 {
			b = append(b, `,"code":"`...)
			for _, c := range e.Code {
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			}
			b = append(b, '"')
		}
		if e.UnknownArgs != 0 {
			b = append(b, `,"unknown_args":[`...)
			first := true
			for i := 0; i < 6; i++ {
				if e.UnknownArgs&(1<<i) != 0 {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = strconv.AppendInt(b, int64(i), 10)
				}
			}
			b = append(b, ']')
		}
	case KindExit, KindExec:
		if e.TGID != 0 {
			b = appendIntMember(b, "tgid", int64(e.TGID))
		}
		if e.Kind == KindExit {
			if _, ok := ParseCause(e.Cause.String()); !ok {
				return b, fmt.Errorf("trace: exit event with cause %v", e.Cause)
			}
			b = appendStringMember(b, "cause", e.Cause.String())
			if e.HasRegs {
				if err := e.Regs.check(); err != nil {
					return b, fmt.Errorf("trace: exit regs: %w", err)
				}
				b = append(b, `,"regs":{"mode":`...)
				b = strconv.AppendInt(b, int64(e.Regs.Mode), 10)
				b = appendUintMember(b, "ip", e.Regs.IP)
				if e.Regs.SP != 0 {
					b = appendUintMember(b, "sp", e.Regs.SP)
				}
				if e.Regs.TP != 0 {
					b = appendUintMember(b, "tp", e.Regs.TP)
				}
				if e.Regs.HasGPR {
					b = append(b, `,"gpr":{`...)
					for i, v := range e.Regs.GPR.fields() {
						if i > 0 {
							b = append(b, ',')
						}
						b = append(b, '"')
						b = append(b, gprNames[i]...)
						b = append(b, '"', ':')
						b = strconv.AppendUint(b, *v, 10)
					}
					b = append(b, '}')
				}
				b = append(b, '}')
			}
		} else {
			if e.Former != 0 && e.Former != e.TID {
				b = appendIntMember(b, "former", int64(e.Former))
			}
			if e.ABI != "" {
				b = appendStringMember(b, "abi", e.ABI)
			}
		}
		if e.HasMemory {
			b = append(b, `,"memory":[`...)
			for i, m := range e.Memory {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"addr":`...)
				b = strconv.AppendUint(b, m.Addr, 10)
				b = appendIntMember(b, "size", int64(m.Size))
				b = appendUintMember(b, "value", m.Value)
				if m.RO {
					b = appendBoolMember(b, "ro", true)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if len(e.Waiters) > 0 {
			b = append(b, `,"waiters":[`...)
			for i, wt := range e.Waiters {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"addr":`...)
				b = strconv.AppendUint(b, wt.Addr, 10)
				b = appendIntMember(b, "n", int64(wt.N))
				if wt.Fail != "" {
					b = appendStringMember(b, "fail", wt.Fail)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if e.HasWalks {
			b = append(b, `,"walks":[`...)
			for i := range e.Walks {
				if i > 0 {
					b = append(b, ',')
				}
				b = AppendWalk(b, &e.Walks[i])
			}
			b = append(b, ']')
		}
	default:
		return b, fmt.Errorf("trace: unknown event kind %d", e.Kind)
	}
	if e.SrcLine != 0 && e.Kind != KindTask {
		b = appendIntMember(b, "src_line", e.SrcLine)
	}
	b = append(b, '}')
	return b, nil
}

// AppendWalk appends the JSON of one list walk, as the trace holds it.
func AppendWalk(b []byte, w *robustlist2.ListWalk) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(w.Index), 10)
	b = appendUintMember(b, "head", w.Slot.Head)
	b = appendIntMember(b, "bits", int64(w.Slot.Bits))
	b = appendStringMember(b, "backend", w.Slot.Backend.String())
	r := w.Report
	if r == nil {
		if w.Slot.Backend != robustlist2.BackendWalk {
			b = appendIntMember(b, "host_index", int64(w.Slot.HostIndex))
		}
		return append(b, '}')
	}
	b = appendIntMember(b, "futex_offset", r.FutexOffset)
	b = appendUintMember(b, "pending", r.PendingNode)
	b = appendStringMember(b, "stop", r.Stop.String())
	b = appendIntMember(b, "visited", int64(r.Visited))
	b = appendIntMember(b, "marked", int64(r.Marked))
	b = appendIntMember(b, "woken", int64(r.Woken))
	if r.WakeErrors != 0 {
		b = appendIntMember(b, "wake_errors", int64(r.WakeErrors))
	}
	if r.Truncated {
		b = appendBoolMember(b, "truncated", true)
	}
	b = append(b, `,"entries":[`...)
	for i, en := range r.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"node":`...)
		b = strconv.AppendUint(b, en.Node, 10)
		b = appendUintMember(b, "word", en.Word)
		b = appendStringMember(b, "action", en.Action.String())
		b = appendUintMember(b, "old", uint64(en.Old))
		b = appendUintMember(b, "new", uint64(en.New))
		if en.PI {
			b = appendBoolMember(b, "pi", true)
		}
		if en.Pending {
			b = appendBoolMember(b, "pending", true)
		}
		if en.Wakes != 0 {
			b = appendIntMember(b, "wakes", int64(en.Wakes))
		}
		if en.Woken != 0 || en.Wakes != 0 {
			b = appendIntMember(b, "woken", int64(en.Woken))
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendIntMember(b []byte, name string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendUintMember(b []byte, name string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

func appendBoolMember(b []byte, name string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

func appendStringMember(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
