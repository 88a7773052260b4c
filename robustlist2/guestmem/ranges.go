package guestmem

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// Range is the guest address range [Start, End).
type Range struct {
	Start, End uint64
}

// Contains reports whether [addr, addr+size) lies inside r.
func (r Range) Contains(addr uint64, size uint64) bool {
	return addr >= r.Start && addr < r.End && size <= r.End-addr
}

// String formats r as "[start, end)" in hex.
func (r Range) String() string { return fmt.Sprintf("[%#x, %#x)", r.Start, r.End) }

// rangeSet is an immutable sorted set of disjoint, non-adjacent ranges
// with a lookup hint shared by every goroutine.
type rangeSet struct {
	spans []Range
	last  atomic.Int32 // index of the span that answered the last lookup
}

// mergeRanges validates, sorts and merges overlapping or adjacent ranges.
func mergeRanges(in []Range) ([]Range, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("guestmem: no guest ranges: %w", ErrInvalid)
	}
	rs := slices.Clone(in)
	for _, r := range rs {
		if r.End <= r.Start {
			return nil, fmt.Errorf("guestmem: empty or inverted range %v: %w", r, ErrInvalid)
		}
	}
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		cur := &out[len(out)-1]
		if r.Start <= cur.End {
			cur.End = max(cur.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out), nil
}

// find returns the span holding all of [addr, addr+size), or false.
// Spans are merged, so an access that straddles a span's end is outside.
func (s *rangeSet) find(addr, size uint64) bool {
	if size > math.MaxUint64-addr {
		return false
	}
	i := int(s.last.Load())
	if r := s.spans[i]; addr >= r.Start && addr < r.End {
		return size <= r.End-addr
	}
	lo, hi := 0, len(s.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.spans[m].End <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s.spans) || addr < s.spans[lo].Start {
		return false
	}
	s.last.Store(int32(lo))
	return size <= s.spans[lo].End-addr
}
