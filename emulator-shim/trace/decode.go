package trace

import (
	"fmt"
	"math"

	"github.com/fexrl/fexrl/abi"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/robustlist2"
)

// Limits on what one event may hold, so that a hostile trace cannot make
// the reader allocate without bound.
const (
	// MaxMemoryWords is the most memory words one exit or exec may carry.
	MaxMemoryWords = 1 << 20
	// MaxMemoryPages is the most 4 KiB pages the memory of one exit or
	// exec may touch (replay maps each in simulated memory).
	MaxMemoryPages = 1 << 14
	// MaxWalks is the most walks one exit or exec may carry.
	MaxWalks = 1024
	// MaxEntries is the most entries one walk may carry.
	MaxEntries = 1 << 20
	// MaxCodeBytes is the longest syscall site code a syscall may carry.
	MaxCodeBytes = 64
	// MaxListLimit is the largest list_limit a header may configure
	// (each replayed task holds a table of that many lists).
	MaxListLimit = 64
)

const maxInt = int64(math.MaxInt)

// fieldErr is a problem with one member of an event.
type fieldErr struct {
	field string
	err   error
}

// Error names the member and the problem.
func (e *fieldErr) Error() string { return fmt.Sprintf("%q: %v", e.field, e.err) }

// Unwrap returns the problem.
func (e *fieldErr) Unwrap() error { return e.err }

func fieldError(field string, format string, args ...any) error {
	return &fieldErr{field: field, err: fmt.Errorf(format, args...)}
}

// seen tracks members already read, for duplicates and required fields.
type seen uint64

func (s *seen) mark(sc *scanner, bit uint, key []byte) error {
	if *s&(1<<bit) != 0 {
		return sc.errAt(sc.i, "duplicate member %q", key)
	}
	*s |= 1 << bit
	return nil
}

func (s seen) has(bit uint) bool { return s&(1<<bit) != 0 }

func unknownMember(sc *scanner, where string, key []byte) error {
	return sc.errAt(sc.i, "unknown member %q in %s", key, where)
}

// decodeHeader parses the header line.
func decodeHeader(sc *scanner, line []byte) (Header, error) {
	var h Header
	sc.reset(line)
	var got seen
	var format string
	err := sc.object(func(key []byte) error {
		switch string(key) {
		case "format":
			if err := got.mark(sc, 0, key); err != nil {
				return err
			}
			s, err := sc.str()
			format = string(s)
			return err
		case "version":
			if err := got.mark(sc, 1, key); err != nil {
				return err
			}
			v, err := sc.int(0, math.MaxInt32)
			h.Version = int(v)
			return err
		case "abis":
			if err := got.mark(sc, 2, key); err != nil {
				return err
			}
			return sc.array(func(int) error {
				s, err := sc.str()
				if err != nil {
					return err
				}
				name, ok := guestABI(s)
				if !ok {
					return fieldError("abis", "unknown guest ABI %q (want %s or %s)", s, ABIx86_32, ABIx86_64)
				}
				h.ABIs = append(h.ABIs, name)
				return nil
			})
		case "host":
			if err := got.mark(sc, 3, key); err != nil {
				return err
			}
			return decodeHost(sc, &h.Host)
		case "source":
			if err := got.mark(sc, 4, key); err != nil {
				return err
			}
			s, err := sc.str()
			h.Source = string(s)
			return err
		case "command":
			if err := got.mark(sc, 5, key); err != nil {
				return err
			}
			h.Command = []string{}
			return sc.array(func(int) error {
				s, err := sc.str()
				h.Command = append(h.Command, string(s))
				return err
			})
		case "config":
			if err := got.mark(sc, 6, key); err != nil {
				return err
			}
			return decodeConfig(sc, &h.Config)
		}
		return unknownMember(sc, "the header", key)
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		return h, err
	}
	if !got.has(0) || format != Format {
		if got.has(0) {
			return h, fmt.Errorf("not a fexrl trace: format %q (want %q)", format, Format)
		}
		return h, fmt.Errorf("not a fexrl trace: the first line has no \"format\": %q member", Format)
	}
	switch {
	case !got.has(1):
		return h, fieldError("version", "missing")
	case h.Version != Version:
		return h, fmt.Errorf("trace format version %d is not supported (this fexrl reads version %d)", h.Version, Version)
	case !got.has(2) || len(h.ABIs) == 0:
		return h, fieldError("abis", "missing or empty")
	case !got.has(3):
		return h, fieldError("host", "missing")
	case !got.has(4) || h.Source == "":
		return h, fieldError("source", "missing or empty")
	}
	return h, nil
}

func decodeHost(sc *scanner, h *Host) error {
	var got seen
	err := sc.object(func(key []byte) error {
		var bit uint
		var dst *string
		switch string(key) {
		case "os":
			bit, dst = 0, &h.OS
		case "arch":
			bit, dst = 1, &h.Arch
		case "kernel":
			bit, dst = 2, &h.Kernel
		default:
			return unknownMember(sc, `"host"`, key)
		}
		if err := got.mark(sc, bit, key); err != nil {
			return err
		}
		s, err := sc.str()
		*dst = string(s)
		return err
	})
	if err == nil && (h.OS == "" || h.Arch == "") {
		err = fieldError("host", `needs "os" and "arch"`)
	}
	return err
}

func decodeConfig(sc *scanner, c *Config) error {
	var got seen
	return sc.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "mode":
			if err = got.mark(sc, 0, key); err != nil {
				return err
			}
			var s []byte
			s, err = sc.str()
			switch string(s) {
			case "emulated", "native", "":
				c.Mode = string(s)
			default:
				if err == nil {
					err = fieldError("mode", "unknown mode %q (want emulated or native)", s)
				}
			}
		case "robust_list2":
			if err = got.mark(sc, 1, key); err != nil {
				return err
			}
			c.RobustList2, err = sc.bool()
		case "unbounded":
			if err = got.mark(sc, 2, key); err != nil {
				return err
			}
			c.Unbounded, err = sc.bool()
		case "kernel_unlock_rule":
			if err = got.mark(sc, 3, key); err != nil {
				return err
			}
			c.KernelUnlockRule, err = sc.bool()
		case "list_limit":
			if err = got.mark(sc, 4, key); err != nil {
				return err
			}
			var v int64
			v, err = sc.int(0, MaxListLimit)
			c.ListLimit = int(v)
		default:
			return unknownMember(sc, `"config"`, key)
		}
		return err
	})
}

// guestABI returns the canonical name of a guest ABI.
func guestABI(s []byte) (string, bool) {
	switch string(s) {
	case ABIx86_32:
		return ABIx86_32, true
	case ABIx86_64:
		return ABIx86_64, true
	}
	return "", false
}

// Event member bits.
const (
	bEv = iota
	bTID
	bTGID
	bParent
	bFormer
	bABI
	bFlags
	bNr
	bArgs
	bRet
	bHandled
	bCode
	bSrcLine
	bUnknownArgs
	bCause
	bRegs
	bMemory
	bWaiters
	bWalks
)

// allowed returns the members a kind may have.
func allowed(k Kind) seen {
	switch k {
	case KindTask:
		return 1<<bEv | 1<<bTID | 1<<bTGID | 1<<bParent | 1<<bABI | 1<<bFlags
	case KindSyscall:
		return 1<<bEv | 1<<bTID | 1<<bABI | 1<<bNr | 1<<bArgs | 1<<bRet | 1<<bHandled | 1<<bCode | 1<<bSrcLine | 1<<bUnknownArgs
	case KindExit:
		return 1<<bEv | 1<<bTID | 1<<bTGID | 1<<bCause | 1<<bRegs | 1<<bMemory | 1<<bWaiters | 1<<bWalks | 1<<bSrcLine
	case KindExec:
		return 1<<bEv | 1<<bTID | 1<<bTGID | 1<<bFormer | 1<<bABI | 1<<bMemory | 1<<bWaiters | 1<<bWalks | 1<<bSrcLine
	}
	return 0
}

// required returns the members a kind must have.
func required(k Kind) seen {
	switch k {
	case KindTask:
		return 1<<bEv | 1<<bTID | 1<<bTGID
	case KindSyscall:
		return 1<<bEv | 1<<bTID | 1<<bABI | 1<<bNr | 1<<bArgs
	case KindExit:
		return 1<<bEv | 1<<bTID | 1<<bCause
	case KindExec:
		return 1<<bEv | 1<<bTID
	}
	return 0
}

// memberName returns the JSON name of an event member bit.
func memberName(b uint) string {
	names := [...]string{
		bEv: "ev", bTID: "tid", bTGID: "tgid", bParent: "parent", bFormer: "former", bABI: "abi",
		bFlags: "flags", bNr: "nr", bArgs: "args", bRet: "ret", bHandled: "handled", bCode: "code",
		bSrcLine: "src_line", bUnknownArgs: "unknown_args", bCause: "cause", bRegs: "regs",
		bMemory: "memory", bWaiters: "waiters", bWalks: "walks",
	}
	if int(b) < len(names) {
		return names[b]
	}
	return "?"
}

// eventDecoder decodes event lines into a reused Event.
type eventDecoder struct {
	sc      scanner
	reports []robustlist2.Report // storage for Walks' reports
	nrep    int
	listMax int  // the largest valid list table index + 1
	noFast  bool // tests: only the general decoder
	words   wordSet
	written map[uint64]uint32 // words the walks of one event wrote
}

func newEventDecoder(cfg Config) *eventDecoder {
	limit := cfg.ListLimit
	if limit <= 0 {
		limit = abi.RobustList2DefaultListLimit
	}
	return &eventDecoder{listMax: robustlist2.SlotRobust2 + limit}
}

func (d *eventDecoder) tidValue() (int32, error) {
	v, err := d.sc.int(1, math.MaxInt32)
	return int32(v), err
}

// decode parses line into e.
func (d *eventDecoder) decode(line []byte, e *Event) error {
	e.Reset()
	d.nrep = 0
	sc := &d.sc
	sc.reset(line)
	if !d.noFast {
		if d.fastEvent(e) {
			return nil
		}
		e.Reset()
		sc.reset(line)
	}
	var got seen
	err := d.members(e, &got)
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		return err
	}
	if !got.has(bEv) {
		return fmt.Errorf(`event without an "ev" member`)
	}
	if extra := got &^ allowed(e.Kind); extra != 0 {
		return fmt.Errorf("%q is not a member of a %s event", memberName(lowBit(extra)), e.Kind)
	}
	if missing := required(e.Kind) &^ got; missing != 0 {
		return fmt.Errorf("%s event without %q", e.Kind, memberName(lowBit(missing)))
	}
	return d.check(e, got)
}

func lowBit(s seen) uint {
	for i := uint(0); i < 64; i++ {
		if s&(1<<i) != 0 {
			return i
		}
	}
	return 0
}

// members decodes the members of an event object.
func (d *eventDecoder) members(e *Event, got *seen) error {
	sc := &d.sc
	if err := sc.enter('{'); err != nil {
		return err
	}
	for first := true; ; {
		more, err := sc.next('}', &first)
		if err != nil || !more {
			return err
		}
		key, err := sc.key()
		if err != nil {
			return err
		}
		var bit uint
		switch string(key) {
		case "ev":
			bit = bEv
		case "tid":
			bit = bTID
		case "tgid":
			bit = bTGID
		case "parent":
			bit = bParent
		case "former":
			bit = bFormer
		case "abi":
			bit = bABI
		case "flags":
			bit = bFlags
		case "nr":
			bit = bNr
		case "args":
			bit = bArgs
		case "ret":
			bit = bRet
		case "handled":
			bit = bHandled
		case "code":
			bit = bCode
		case "src_line":
			bit = bSrcLine
		case "unknown_args":
			bit = bUnknownArgs
		case "cause":
			bit = bCause
		case "regs":
			bit = bRegs
		case "memory":
			bit = bMemory
		case "waiters":
			bit = bWaiters
		case "walks":
			bit = bWalks
		default:
			return unknownMember(sc, "an event", key)
		}
		if err := got.mark(sc, bit, key); err != nil {
			return err
		}
		if err := d.member(bit, e); err != nil {
			switch err.(type) {
			case *syntaxError, *fieldErr:
				return err
			}
			return &fieldErr{field: memberName(bit), err: err}
		}
	}
}

// member decodes the value of one member.
func (d *eventDecoder) member(bit uint, e *Event) error {
	sc := &d.sc
	var err error
	switch bit {
	case bEv:
		var s []byte
		if s, err = sc.str(); err != nil {
			return err
		}
		switch string(s) {
		case "task":
			e.Kind = KindTask
		case "syscall":
			e.Kind = KindSyscall
		case "exit":
			e.Kind = KindExit
		case "exec":
			e.Kind = KindExec
		default:
			return fmt.Errorf("unknown event %q (want task, syscall, exit or exec)", s)
		}
	case bTID:
		e.TID, err = d.tidValue()
	case bTGID:
		e.TGID, err = d.tidValue()
	case bParent:
		var v int64
		v, err = sc.int(0, math.MaxInt32)
		e.Parent = int32(v)
	case bFormer:
		e.Former, err = d.tidValue()
	case bABI:
		var s []byte
		if s, err = sc.str(); err != nil {
			return err
		}
		var ok bool
		if e.ABI, ok = guestABI(s); !ok {
			return fmt.Errorf("unknown guest ABI %q (want %s or %s)", s, ABIx86_32, ABIx86_64)
		}
	case bFlags:
		e.Flags, err = sc.uint(math.MaxUint64)
	case bNr:
		var v int64
		v, err = sc.int(0, math.MaxInt32)
		e.Nr = int32(v)
	case bArgs:
		if err = sc.enter('['); err != nil {
			return err
		}
		n := 0
		for first := true; ; n++ {
			more, err := sc.next(']', &first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if n >= 6 {
				return fmt.Errorf("more than six arguments")
			}
			if e.Args[n], err = sc.uint(math.MaxUint64); err != nil {
				return err
			}
		}
		if n != 6 {
			err = fmt.Errorf("%d arguments (want six)", n)
		}
	case bRet:
		e.Ret, err = sc.int(math.MinInt64, math.MaxInt64)
		e.HasRet = true
	case bHandled:
		e.Handled, err = sc.bool()
	case bCode:
		var s []byte
		if s, err = sc.str(); err != nil {
			return err
		}
		e.Code, err = decodeHex(e.Code[:0], s)
	case bSrcLine:
		e.SrcLine, err = sc.int(1, math.MaxInt64)
	case bUnknownArgs:
		err = sc.array(func(int) error {
			v, err := sc.int(0, 5)
			if e.UnknownArgs&(1<<v) != 0 {
				return fmt.Errorf("argument %d listed twice", v)
			}
			e.UnknownArgs |= 1 << v
			return err
		})
	case bCause:
		var s []byte
		if s, err = sc.str(); err != nil {
			return err
		}
		var ok bool
		if e.Cause, ok = ParseCause(string(s)); !ok {
			return fmt.Errorf("unknown cause %q (want exit, exit_group, signal or unknown)", s)
		}
	case bRegs:
		e.HasRegs = true
		err = d.regs(&e.Regs)
	case bMemory:
		e.HasMemory = true
		if err = sc.enter('['); err != nil {
			return err
		}
		for first := true; ; {
			more, err := sc.next(']', &first)
			if err != nil || !more {
				return err
			}
			if len(e.Memory) >= MaxMemoryWords {
				return fmt.Errorf("more than %d words", MaxMemoryWords)
			}
			e.Memory = append(e.Memory, MemWord{})
			w := &e.Memory[len(e.Memory)-1]
			if pos := sc.i; !d.noFast {
				if d.fastMemWord(w) {
					continue
				}
				sc.i, *w = pos, MemWord{}
			}
			if err := d.memWord(w); err != nil {
				return err
			}
		}
	case bWaiters:
		err = sc.array(func(i int) error {
			if i >= MaxMemoryWords {
				return fmt.Errorf("more than %d waiters", MaxMemoryWords)
			}
			e.Waiters = append(e.Waiters, Waiter{})
			return d.waiter(&e.Waiters[len(e.Waiters)-1])
		})
	case bWalks:
		e.HasWalks = true
		if err = sc.enter('['); err != nil {
			return err
		}
		for first := true; ; {
			more, err := sc.next(']', &first)
			if err != nil || !more {
				return err
			}
			if len(e.Walks) >= MaxWalks {
				return fmt.Errorf("more than %d walks", MaxWalks)
			}
			e.Walks = append(e.Walks, robustlist2.ListWalk{})
			w := &e.Walks[len(e.Walks)-1]
			if pos, nrep := sc.i, d.nrep; !d.noFast {
				if d.fastWalk(w) {
					continue
				}
				sc.i, d.nrep, *w = pos, nrep, robustlist2.ListWalk{}
			}
			if err := d.walk(w); err != nil {
				return err
			}
		}
	}
	return err
}

// ParseCause parses the "cause" of an exit event: exit, exit_group,
// signal or unknown.
func ParseCause(s string) (shim.Cause, bool) {
	switch s {
	case "exit":
		return shim.CauseExit, true
	case "exit_group":
		return shim.CauseExitGroup, true
	case "signal":
		return shim.CauseSignal, true
	case "unknown":
		return shim.CauseUnknown, true
	}
	return 0, false
}

func decodeHex(dst, s []byte) ([]byte, error) {
	if len(s)%2 != 0 {
		return dst, fmt.Errorf("odd number of hex digits")
	}
	if len(s)/2 > MaxCodeBytes {
		return dst, fmt.Errorf("more than %d bytes", MaxCodeBytes)
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return dst, fmt.Errorf("not hex: %q", s)
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (d *eventDecoder) regs(r *Regs) error {
	sc := &d.sc
	var got seen
	err := sc.object(func(key []byte) error {
		var bit uint
		var dst *uint64
		switch string(key) {
		case "mode":
			if err := got.mark(sc, 0, key); err != nil {
				return err
			}
			v, err := sc.int(0, 64)
			if err == nil && v != 32 && v != 64 {
				return fieldError("regs", "mode %d (want 32 or 64)", v)
			}
			r.Mode = int(v)
			return err
		case "ip":
			bit, dst = 1, &r.IP
		case "sp":
			bit, dst = 2, &r.SP
		case "tp":
			bit, dst = 3, &r.TP
		case "gpr":
			if err := got.mark(sc, 4, key); err != nil {
				return err
			}
			r.HasGPR = true
			return d.gpr(&r.GPR)
		default:
			return unknownMember(sc, `"regs"`, key)
		}
		if err := got.mark(sc, bit, key); err != nil {
			return err
		}
		v, err := sc.uint(math.MaxUint64)
		*dst = v
		return err
	})
	if err == nil && (!got.has(0) || !got.has(1)) {
		err = fieldError("regs", `needs "mode" and "ip"`)
	}
	if err == nil {
		if err = r.check(); err != nil {
			err = &fieldErr{field: "regs", err: err}
		}
	}
	return err
}

// gpr decodes the "gpr" member of "regs": every register, once.
func (d *eventDecoder) gpr(g *GPR) error {
	sc := &d.sc
	var got seen
	regs := g.fields()
	err := sc.object(func(key []byte) error {
		for i, name := range gprNames {
			if string(key) != name {
				continue
			}
			if err := got.mark(sc, uint(i), key); err != nil {
				return err
			}
			max := uint64(math.MaxUint64)
			if name == "eflags" {
				max = math.MaxUint32 // its upper half is reserved
			}
			v, err := sc.uint(max)
			*regs[i] = v
			return err
		}
		return unknownMember(sc, `"gpr"`, key)
	})
	if err != nil {
		return err
	}
	for i, name := range gprNames {
		if !got.has(uint(i)) {
			return fieldError("regs", `"gpr" without %q`, name)
		}
	}
	return nil
}

func (d *eventDecoder) memWord(w *MemWord) error {
	sc := &d.sc
	var got seen
	if err := sc.enter('{'); err != nil {
		return err
	}
	for first := true; ; {
		more, err := sc.next('}', &first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key, err := sc.key()
		if err != nil {
			return err
		}
		switch string(key) {
		case "addr":
			if err = got.mark(sc, 0, key); err == nil {
				w.Addr, err = sc.uint(math.MaxUint64)
			}
		case "size":
			if err = got.mark(sc, 1, key); err == nil {
				var v int64
				v, err = sc.int(0, 8)
				if err == nil && v != 4 && v != 8 {
					err = fieldError("memory", "word size %d (want 4 or 8)", v)
				}
				w.Size = int(v)
			}
		case "value":
			if err = got.mark(sc, 2, key); err == nil {
				w.Value, err = sc.uint(math.MaxUint64)
			}
		case "ro":
			if err = got.mark(sc, 3, key); err == nil {
				w.RO, err = sc.bool()
			}
		default:
			return unknownMember(sc, "a memory word", key)
		}
		if err != nil {
			return err
		}
	}
	if !got.has(0) || !got.has(1) || !got.has(2) {
		return fieldError("memory", `a word needs "addr", "size" and "value"`)
	}
	if w.Addr > math.MaxUint64-uint64(w.Size) {
		return fieldError("memory", "word at %#x of %d bytes runs past the end of the address space", w.Addr, w.Size)
	}
	if w.Size == 4 && w.Value > math.MaxUint32 {
		return fieldError("memory", "value %#x at %#x does not fit in 4 bytes", w.Value, w.Addr)
	}
	return nil
}

func (d *eventDecoder) waiter(w *Waiter) error {
	sc := &d.sc
	var got seen
	err := sc.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "addr":
			if err = got.mark(sc, 0, key); err == nil {
				w.Addr, err = sc.uint(math.MaxUint64)
			}
		case "n":
			if err = got.mark(sc, 1, key); err == nil {
				var v int64
				v, err = sc.int(0, math.MaxInt32)
				w.N = int(v)
			}
		case "fail":
			if err = got.mark(sc, 2, key); err == nil {
				var s []byte
				s, err = sc.str()
				w.Fail = string(s)
				if err == nil && w.Fail == "" {
					err = fieldError("waiters", `empty "fail"`)
				}
			}
		default:
			return unknownMember(sc, "a waiter", key)
		}
		return err
	})
	if err == nil && !got.has(0) {
		err = fieldError("waiters", `a waiter needs "addr"`)
	}
	return err
}

// Walk member bits.
const (
	wIndex = iota
	wHead
	wBits
	wBackend
	wHostIndex
	wFutexOffset
	wPending
	wStop
	wVisited
	wMarked
	wWoken
	wWakeErrors
	wTruncated
	wEntries
)

// walkReport are the members only a walk fexrl made has.
const walkReport = seen(1<<wFutexOffset | 1<<wPending | 1<<wStop | 1<<wVisited | 1<<wMarked | 1<<wWoken | 1<<wWakeErrors | 1<<wTruncated | 1<<wEntries)

func (d *eventDecoder) report() *robustlist2.Report {
	if d.nrep == len(d.reports) {
		d.reports = append(d.reports, robustlist2.Report{})
	}
	r := &d.reports[d.nrep]
	d.nrep++
	*r = robustlist2.Report{Entries: r.Entries[:0]}
	return r
}

func (d *eventDecoder) walk(w *robustlist2.ListWalk) error {
	sc := &d.sc
	var got seen
	r := d.report()
	if err := sc.enter('{'); err != nil {
		return err
	}
	for first := true; ; {
		more, err := sc.next('}', &first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key, err := sc.key()
		if err != nil {
			return err
		}
		if err := d.walkMember(w, r, &got, key); err != nil {
			return err
		}
	}
	for _, b := range []uint{wIndex, wHead, wBits, wBackend} {
		if !got.has(b) {
			return fieldError("walks", "a walk needs %q", walkMemberName(b))
		}
	}
	if w.Slot.Backend != robustlist2.BackendWalk {
		if got&walkReport != 0 {
			return fieldError("walks", "a list the host walks (%s) has no %q", w.Slot.Backend, walkMemberName(lowBit(got&walkReport)))
		}
		return nil
	}
	if got.has(wHostIndex) {
		return fieldError("walks", `a list fexrl walks has no "host_index"`)
	}
	for _, b := range []uint{wStop, wVisited} {
		if !got.has(b) {
			return fieldError("walks", "a walk fexrl made needs %q", walkMemberName(b))
		}
	}
	r.Head, r.Bits = w.Slot.Head, w.Slot.Bits
	w.Report = r
	return nil
}

// walkMember decodes one member of a walk.
func (d *eventDecoder) walkMember(w *robustlist2.ListWalk, r *robustlist2.Report, got *seen, key []byte) error {
	sc := &d.sc
	var bit uint
	switch string(key) {
	case "index":
		bit = wIndex
	case "head":
		bit = wHead
	case "bits":
		bit = wBits
	case "backend":
		bit = wBackend
	case "host_index":
		bit = wHostIndex
	case "futex_offset":
		bit = wFutexOffset
	case "pending":
		bit = wPending
	case "stop":
		bit = wStop
	case "visited":
		bit = wVisited
	case "marked":
		bit = wMarked
	case "woken":
		bit = wWoken
	case "wake_errors":
		bit = wWakeErrors
	case "truncated":
		bit = wTruncated
	case "entries":
		bit = wEntries
	default:
		return unknownMember(sc, "a walk", key)
	}
	if err := got.mark(sc, bit, key); err != nil {
		return err
	}
	var err error
	var v int64
	switch bit {
	case wIndex:
		v, err = sc.int(0, int64(d.listMax-1))
		w.Index = int(v)
	case wHead:
		w.Slot.Head, err = sc.uint(math.MaxUint64)
	case wBits:
		v, err = sc.int(0, 64)
		w.Slot.Bits = abi.Bits(v)
		if err == nil && !w.Slot.Bits.Valid() {
			err = fieldError("bits", "%d (want 32 or 64)", v)
		}
	case wBackend:
		var s []byte
		if s, err = sc.str(); err == nil {
			var ok bool
			if w.Slot.Backend, ok = parseBackend(s); !ok {
				err = fieldError("backend", "unknown back end %q", s)
			}
		}
	case wHostIndex:
		v, err = sc.int(0, math.MaxUint32)
		w.Slot.HostIndex = uint32(v)
	case wFutexOffset:
		r.FutexOffset, err = sc.int(math.MinInt64, math.MaxInt64)
	case wPending:
		r.PendingNode, err = sc.uint(math.MaxUint64)
	case wStop:
		var s []byte
		if s, err = sc.str(); err == nil {
			var ok bool
			if r.Stop, ok = parseStop(s); !ok {
				err = fieldError("stop", "unknown stop reason %q", s)
			}
		}
	case wVisited:
		v, err = sc.int(0, maxInt)
		r.Visited = int(v)
	case wMarked:
		v, err = sc.int(0, maxInt)
		r.Marked = int(v)
	case wWoken:
		v, err = sc.int(0, maxInt)
		r.Woken = int(v)
	case wWakeErrors:
		v, err = sc.int(0, maxInt)
		r.WakeErrors = int(v)
	case wTruncated:
		r.Truncated, err = sc.bool()
	case wEntries:
		if err = sc.enter('['); err != nil {
			return err
		}
		for first := true; ; {
			more, err := sc.next(']', &first)
			if err != nil || !more {
				return err
			}
			if len(r.Entries) >= MaxEntries {
				return fieldError("entries", "more than %d entries", MaxEntries)
			}
			r.Entries = append(r.Entries, robustlist2.Entry{})
			en := &r.Entries[len(r.Entries)-1]
			if pos := sc.i; !d.noFast {
				if d.fastEntry(en) {
					continue
				}
				sc.i, *en = pos, robustlist2.Entry{}
			}
			if err := d.entry(en); err != nil {
				return err
			}
		}
	}
	return err
}

func walkMemberName(b uint) string {
	return [...]string{"index", "head", "bits", "backend", "host_index", "futex_offset", "pending", "stop",
		"visited", "marked", "woken", "wake_errors", "truncated", "entries"}[b]
}

func parseBackend(s []byte) (robustlist2.Backend, bool) {
	for b := robustlist2.BackendWalk; b <= robustlist2.BackendHostNative; b++ {
		if b.String() == string(s) {
			return b, true
		}
	}
	return 0, false
}

func parseStop(s []byte) (robustlist2.StopReason, bool) {
	for r := robustlist2.StopEnd; r <= robustlist2.StopNoHead; r++ {
		if r.String() == string(s) {
			return r, true
		}
	}
	return 0, false
}

func parseAction(s []byte) (robustlist2.Action, bool) {
	for a := robustlist2.ActionNotOwner; a <= robustlist2.ActionContended; a++ {
		if a.String() == string(s) {
			return a, true
		}
	}
	return 0, false
}

func (d *eventDecoder) entry(en *robustlist2.Entry) error {
	sc := &d.sc
	var got seen
	if err := sc.enter('{'); err != nil {
		return err
	}
	for first := true; ; {
		more, err := sc.next('}', &first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key, err := sc.key()
		if err != nil {
			return err
		}
		if err := d.entryMember(en, &got, key); err != nil {
			return err
		}
	}
	if !got.has(0) || !got.has(1) || !got.has(2) {
		return fieldError("entries", `an entry needs "node", "word" and "action"`)
	}
	return nil
}

// entryMember decodes one member of a walk's entry.
func (d *eventDecoder) entryMember(en *robustlist2.Entry, got *seen, key []byte) error {
	sc := &d.sc
	var err error
	var v int64
	switch string(key) {
	case "node":
		if err = got.mark(sc, 0, key); err == nil {
			en.Node, err = sc.uint(math.MaxUint64)
		}
	case "word":
		if err = got.mark(sc, 1, key); err == nil {
			en.Word, err = sc.uint(math.MaxUint64)
		}
	case "action":
		if err = got.mark(sc, 2, key); err == nil {
			var s []byte
			if s, err = sc.str(); err == nil {
				var ok bool
				if en.Action, ok = parseAction(s); !ok {
					err = fieldError("action", "unknown action %q", s)
				}
			}
		}
	case "old":
		if err = got.mark(sc, 3, key); err == nil {
			v, err = sc.int(0, math.MaxUint32)
			en.Old = uint32(v)
		}
	case "new":
		if err = got.mark(sc, 4, key); err == nil {
			v, err = sc.int(0, math.MaxUint32)
			en.New = uint32(v)
		}
	case "pi":
		if err = got.mark(sc, 5, key); err == nil {
			en.PI, err = sc.bool()
		}
	case "pending":
		if err = got.mark(sc, 6, key); err == nil {
			en.Pending, err = sc.bool()
		}
	case "wakes":
		if err = got.mark(sc, 7, key); err == nil {
			v, err = sc.int(0, 1)
			en.Wakes = int(v)
		}
	case "woken":
		if err = got.mark(sc, 8, key); err == nil {
			v, err = sc.int(-1, math.MaxInt32)
			en.Woken = int(v)
		}
	default:
		return unknownMember(sc, "an entry", key)
	}
	return err
}

// check validates what a single member cannot: consistency inside the
// event.
func (d *eventDecoder) check(e *Event, got seen) error {
	switch e.Kind {
	case KindTask:
		if e.Parent == e.TID {
			return fmt.Errorf("task %d is its own parent", e.TID)
		}
	case KindExec:
		if e.Former == 0 {
			e.Former = e.TID
		}
	}
	if e.Kind != KindExit && e.Kind != KindExec {
		return nil
	}
	if len(e.Waiters) > 0 && !e.HasMemory {
		return fmt.Errorf(`"waiters" without "memory"`)
	}
	if e.HasWalks && !e.HasMemory {
		for _, w := range e.Walks {
			if w.Report != nil {
				return fmt.Errorf(`walks without the "memory" they read`)
			}
		}
	}
	if !e.HasMemory {
		return nil
	}
	if err := d.words.build(e.Memory); err != nil {
		return &fieldErr{field: "memory", err: err}
	}
	mem := &d.words
	e.words = mem
	if d.written == nil {
		d.written = map[uint64]uint32{}
	}
	clear(d.written)
	seenIdx := uint64(0)
	for i := range e.Walks {
		w := &e.Walks[i]
		if w.Index < 64 {
			if seenIdx&(1<<w.Index) != 0 {
				return fieldError("walks", "list %d walked twice", w.Index)
			}
			seenIdx |= 1 << w.Index
		}
		if err := checkWalk(w, mem, d.written); err != nil {
			return &fieldErr{field: "walks", err: fmt.Errorf("list %s: %w", robustlist2.SlotName(w.Index), err)}
		}
	}
	return nil
}

// checkWalk checks that a recorded walk only claims to have read memory
// the event recorded, with the values it recorded or the walk itself
// wrote there before (written, updated with the walk's writes).
func checkWalk(w *robustlist2.ListWalk, mem *wordSet, written map[uint64]uint32) error {
	r := w.Report
	if r == nil {
		return nil
	}
	if r.Stop == robustlist2.StopNoHead {
		if w.Slot.Head != 0 || len(r.Entries) > 0 {
			return fmt.Errorf("stop %q with a head or entries", r.Stop)
		}
		return nil
	}
	if r.Stop != robustlist2.StopHeadFault {
		if !mem.covers(w.Slot.Head, w.Slot.Bits.Head().Size) {
			return fmt.Errorf("head %#x is outside the recorded memory", w.Slot.Head)
		}
	}
	if len(r.Entries) > r.Visited+1 {
		return fmt.Errorf("%d entries for %d visited", len(r.Entries), r.Visited)
	}
	for i, en := range r.Entries {
		switch en.Action {
		case robustlist2.ActionNotOwner, robustlist2.ActionMarked, robustlist2.ActionWakeOnly, robustlist2.ActionContended:
			v, ok := mem.value32(en.Word)
			if !ok {
				return fmt.Errorf("entry %d: futex word %#x is outside the recorded memory", i, en.Word)
			}
			if wv, ok := written[en.Word]; ok {
				v = wv
			}
			if v != en.Old {
				return fmt.Errorf("entry %d: futex word %#x was %#x, but the recorded memory holds %#x", i, en.Word, en.Old, v)
			}
			if en.Action == robustlist2.ActionMarked {
				written[en.Word] = en.New
			}
		}
		if en.Wakes == 0 && en.Woken != 0 {
			return fmt.Errorf("entry %d: %d woken without a wake", i, en.Woken)
		}
	}
	return nil
}
