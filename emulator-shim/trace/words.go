package trace

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// wordSet is the recorded memory of one exit or exec: the captured words
// merged into sorted, disjoint byte spans. An access is allowed only if
// every byte of it was recorded; a write only if no byte of it was
// recorded as read-only.
type wordSet struct {
	spans []span
	data  []byte  // the spans' bytes, back to back
	order []int32 // scratch: word indices sorted by address
}

type span struct {
	start, end uint64 // [start, end)
	off        int    // offset of start in data
	ro         bool
}

// build replaces the set with words. Overlapping words must agree on
// every byte they share and on whether they are read-only.
func (s *wordSet) build(words []MemWord) error {
	s.spans, s.data, s.order = s.spans[:0], s.data[:0], s.order[:0]
	for i := range words {
		w := &words[i]
		if w.Size != 4 && w.Size != 8 {
			return fmt.Errorf("word at %#x of %d bytes (want 4 or 8)", w.Addr, w.Size)
		}
		if w.Addr > ^uint64(0)-uint64(w.Size) {
			return fmt.Errorf("word at %#x runs past the end of the address space", w.Addr)
		}
		s.order = append(s.order, int32(i))
	}
	slices.SortFunc(s.order, func(a, b int32) int {
		wa, wb := &words[a], &words[b]
		switch {
		case wa.Addr < wb.Addr:
			return -1
		case wa.Addr > wb.Addr:
			return 1
		}
		return wa.Size - wb.Size
	})
	var buf [8]byte
	for _, i := range s.order {
		w := &words[i]
		binary.LittleEndian.PutUint64(buf[:], w.Value)
		b := buf[:w.Size]
		end := w.Addr + uint64(w.Size) // no wrap: checked when decoded
		if n := len(s.spans); n > 0 {
			last := &s.spans[n-1]
			if w.Addr < last.end {
				// Overlap: the shared bytes must agree.
				if w.RO != last.ro {
					return fmt.Errorf("words at %#x overlap, one read-only and one not", w.Addr)
				}
				for a := w.Addr; a < min(end, last.end); a++ {
					if s.data[last.off+int(a-last.start)] != b[a-w.Addr] {
						return fmt.Errorf("overlapping words at %#x disagree on the byte at %#x", w.Addr, a)
					}
				}
				if end > last.end {
					s.data = append(s.data, b[last.end-w.Addr:]...)
					last.end = end
				}
				continue
			}
			if w.Addr == last.end && w.RO == last.ro {
				s.data = append(s.data, b...)
				last.end = end
				continue
			}
		}
		s.spans = append(s.spans, span{start: w.Addr, end: end, off: len(s.data), ro: w.RO})
		s.data = append(s.data, b...)
	}
	if n := s.pages(); n > MaxMemoryPages {
		return fmt.Errorf("the words touch %d pages of 4 KiB, more than %d", n, MaxMemoryPages)
	}
	return nil
}

// pages counts the 4 KiB pages the spans touch.
func (s *wordSet) pages() int {
	n := 0
	last := ^uint64(0)
	for _, sp := range s.spans {
		first, end := sp.start/4096, (sp.end-1)/4096
		if first == last {
			first++
		}
		if end >= first {
			n += int(end - first + 1)
		}
		last = end
	}
	return n
}

// find returns the span holding all of [addr, addr+n), or nil.
func (s *wordSet) find(addr uint64, n uint64) *span {
	lo, hi := 0, len(s.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.spans[m].end <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s.spans) {
		return nil
	}
	sp := &s.spans[lo]
	if addr < sp.start || n > sp.end-addr {
		return nil
	}
	return sp
}

// covers reports whether every byte of [addr, addr+n) was recorded.
func (s *wordSet) covers(addr, n uint64) bool { return s.find(addr, n) != nil }

// value32 returns the recorded 32-bit word at addr.
func (s *wordSet) value32(addr uint64) (uint32, bool) {
	sp := s.find(addr, 4)
	if sp == nil {
		return 0, false
	}
	o := sp.off + int(addr-sp.start)
	return binary.LittleEndian.Uint32(s.data[o : o+4]), true
}

// bytes returns the recorded bytes of span sp.
func (s *wordSet) bytes(sp *span) []byte {
	return s.data[sp.off : sp.off+int(sp.end-sp.start)]
}
