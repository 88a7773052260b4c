package trace

import (
	"math"

	"github.com/fexrl/fexrl/robustlist2"
)

// The fast paths below read exactly the form Writer writes (members in
// its order, no blanks) for the events and objects that make up most of
// a trace: syscall and task events, memory words and walk entries. They
// check what the general decoder checks; on anything else they give up
// and the general decoder reads the same bytes again, so the result, and
// every error, is the general decoder's. FuzzReader compares the two.

// lit consumes l if the input continues with it.
func (s *scanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// fastUint reads an unsigned decimal integer of at most 19 digits, not
// above max, followed by a separator, and nothing else.
func (s *scanner) fastUint(max uint64) (uint64, bool) {
	b := s.b
	i := s.i
	var v uint64
	for end := min(len(b), i+19); i < end; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		v = v*10 + uint64(c)
	}
	n := i - s.i
	if n == 0 || n > 1 && b[s.i] == '0' || v > max || i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case ',', '}', ']':
	default:
		return 0, false
	}
	s.i = i
	return v, true
}

// fastInt reads a signed decimal integer in [lo, hi] the same way.
func (s *scanner) fastInt(lo, hi int64) (int64, bool) {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
		v, ok := s.fastUint(1<<63 - 1)
		if !ok || v == 0 || -int64(v) < lo {
			return 0, false
		}
		return -int64(v), true
	}
	if hi < 0 {
		return 0, false
	}
	v, ok := s.fastUint(uint64(hi))
	if !ok || int64(v) < lo {
		return 0, false
	}
	return int64(v), true
}

// fastWord reads `"word"` made of letters, digits, '_' and '-'.
func (s *scanner) fastWord() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			w := s.b[s.i+1 : j]
			s.i = j + 1
			return w, true
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '[' || c == ']') {
			return nil, false
		}
	}
	return nil, false
}

// fastEvent decodes a syscall or task line in the Writer's form.
func (d *eventDecoder) fastEvent(e *Event) bool {
	sc := &d.sc
	var ok bool
	var v int64
	switch {
	case sc.lit(`{"ev":"syscall","tid":`):
		e.Kind = KindSyscall
		if v, ok = sc.fastInt(1, math.MaxInt32); !ok {
			return false
		}
		e.TID = int32(v)
		switch {
		case sc.lit(`,"abi":"x86_64"`):
			e.ABI = ABIx86_64
		case sc.lit(`,"abi":"x86_32"`):
			e.ABI = ABIx86_32
		default:
			return false
		}
		if !sc.lit(`,"nr":`) {
			return false
		}
		if v, ok = sc.fastInt(0, math.MaxInt32); !ok {
			return false
		}
		e.Nr = int32(v)
		if !sc.lit(`,"args":[`) {
			return false
		}
		for i := range e.Args {
			if i > 0 && !sc.lit(",") {
				return false
			}
			if e.Args[i], ok = sc.fastUint(math.MaxUint64); !ok {
				return false
			}
		}
		if !sc.lit("]") {
			return false
		}
		if sc.lit(`,"ret":`) {
			if e.Ret, ok = sc.fastInt(math.MinInt64+1, math.MaxInt64); !ok {
				return false
			}
			e.HasRet = true
		}
		e.Handled = sc.lit(`,"handled":true`)
	case sc.lit(`{"ev":"task","tid":`):
		e.Kind = KindTask
		if v, ok = sc.fastInt(1, math.MaxInt32); !ok {
			return false
		}
		e.TID = int32(v)
		if !sc.lit(`,"tgid":`) {
			return false
		}
		if v, ok = sc.fastInt(1, math.MaxInt32); !ok {
			return false
		}
		e.TGID = int32(v)
		if sc.lit(`,"parent":`) {
			if v, ok = sc.fastInt(1, math.MaxInt32); !ok {
				return false
			}
			e.Parent = int32(v)
			if e.Parent == e.TID {
				return false
			}
		}
		switch {
		case sc.lit(`,"abi":"x86_64"`):
			e.ABI = ABIx86_64
		case sc.lit(`,"abi":"x86_32"`):
			e.ABI = ABIx86_32
		}
		if sc.lit(`,"flags":`) {
			if e.Flags, ok = sc.fastUint(math.MaxUint64); !ok {
				return false
			}
		}
	default:
		return false
	}
	return sc.lit("}") && sc.i == len(sc.b)
}

// fastMemWord decodes one memory word in the Writer's form.
func (d *eventDecoder) fastMemWord(w *MemWord) bool {
	sc := &d.sc
	var ok bool
	if !sc.lit(`{"addr":`) {
		return false
	}
	if w.Addr, ok = sc.fastUint(math.MaxUint64); !ok {
		return false
	}
	switch {
	case sc.lit(`,"size":4,"value":`):
		w.Size = 4
	case sc.lit(`,"size":8,"value":`):
		w.Size = 8
	default:
		return false
	}
	limit := uint64(math.MaxUint64)
	if w.Size == 4 {
		limit = math.MaxUint32
	}
	if w.Value, ok = sc.fastUint(limit); !ok {
		return false
	}
	w.RO = sc.lit(`,"ro":true`)
	return sc.lit("}") && w.Addr <= math.MaxUint64-uint64(w.Size)
}

// fastEntry decodes one walk entry in the Writer's form.
func (d *eventDecoder) fastEntry(en *robustlist2.Entry) bool {
	sc := &d.sc
	var ok bool
	var v int64
	if !sc.lit(`{"node":`) {
		return false
	}
	if en.Node, ok = sc.fastUint(math.MaxUint64); !ok || !sc.lit(`,"word":`) {
		return false
	}
	if en.Word, ok = sc.fastUint(math.MaxUint64); !ok || !sc.lit(`,"action":`) {
		return false
	}
	a, ok := sc.fastWord()
	if !ok {
		return false
	}
	if en.Action, ok = parseAction(a); !ok || !sc.lit(`,"old":`) {
		return false
	}
	if v, ok = sc.fastInt(0, math.MaxUint32); !ok || !sc.lit(`,"new":`) {
		return false
	}
	en.Old = uint32(v)
	if v, ok = sc.fastInt(0, math.MaxUint32); !ok {
		return false
	}
	en.New = uint32(v)
	en.PI = sc.lit(`,"pi":true`)
	en.Pending = sc.lit(`,"pending":true`)
	if sc.lit(`,"wakes":1`) {
		en.Wakes = 1
	}
	if sc.lit(`,"woken":`) {
		if v, ok = sc.fastInt(-1, math.MaxInt32); !ok {
			return false
		}
		en.Woken = int(v)
	}
	return sc.lit("}")
}

// fastWalk decodes one walk fexrl made, in the Writer's form, with its
// entries; a list the host walks takes the general way.
func (d *eventDecoder) fastWalk(w *robustlist2.ListWalk) bool {
	sc := &d.sc
	var ok bool
	var v int64
	if !sc.lit(`{"index":`) {
		return false
	}
	if v, ok = sc.fastInt(0, int64(d.listMax-1)); !ok || !sc.lit(`,"head":`) {
		return false
	}
	w.Index = int(v)
	if w.Slot.Head, ok = sc.fastUint(math.MaxUint64); !ok {
		return false
	}
	switch {
	case sc.lit(`,"bits":32,"backend":"fexrl-walk","futex_offset":`):
		w.Slot.Bits = 32
	case sc.lit(`,"bits":64,"backend":"fexrl-walk","futex_offset":`):
		w.Slot.Bits = 64
	default:
		return false
	}
	r := d.report()
	if r.FutexOffset, ok = sc.fastInt(math.MinInt64+1, math.MaxInt64); !ok || !sc.lit(`,"pending":`) {
		return false
	}
	if r.PendingNode, ok = sc.fastUint(math.MaxUint64); !ok || !sc.lit(`,"stop":`) {
		return false
	}
	stop, ok := sc.fastWord()
	if !ok {
		return false
	}
	if r.Stop, ok = parseStop(stop); !ok {
		return false
	}
	for _, f := range [...]struct {
		lit string
		dst *int
	}{{`,"visited":`, &r.Visited}, {`,"marked":`, &r.Marked}, {`,"woken":`, &r.Woken}} {
		if !sc.lit(f.lit) {
			return false
		}
		if v, ok = sc.fastInt(0, maxInt); !ok {
			return false
		}
		*f.dst = int(v)
	}
	if sc.lit(`,"wake_errors":`) {
		if v, ok = sc.fastInt(0, maxInt); !ok {
			return false
		}
		r.WakeErrors = int(v)
	}
	r.Truncated = sc.lit(`,"truncated":true`)
	if !sc.lit(`,"entries":[`) {
		return false
	}
	for first := true; ; {
		if sc.lit("]") {
			break
		}
		if !first && !sc.lit(",") {
			return false
		}
		first = false
		if len(r.Entries) >= MaxEntries {
			return false
		}
		r.Entries = append(r.Entries, robustlist2.Entry{})
		if !d.fastEntry(&r.Entries[len(r.Entries)-1]) {
			return false
		}
	}
	if !sc.lit("}") {
		return false
	}
	r.Head, r.Bits = w.Slot.Head, w.Slot.Bits
	w.Report = r
	return true
}
