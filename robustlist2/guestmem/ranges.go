package guestmem

import (
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"
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
// with a lookup hint shared by every goroutine: the range that answered
// the last lookup.
type rangeSet struct {
	spans []Range
	hint  unsafe.Pointer // *Range into spans; atomic (sync/atomic.LoadPointer inlines where atomic.Pointer does not fit)
}

// newRangeSet returns the set of the merged spans.
func newRangeSet(spans []Range) *rangeSet {
	s := &rangeSet{spans: spans}
	atomic.StorePointer(&s.hint, unsafe.Pointer(&s.spans[0]))
	return s
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

// find reports whether [addr, addr+size) lies inside one span (spans are
// merged, so an access straddling a span's end is outside).
func (s *rangeSet) find(addr, size uint64) bool {
	return s.hinted(addr, size) || s.search(addr, size)
}

// hinted is find for the hinted span only: one comparison, no call, so it
// inlines into every access; a miss falls back to search.
func (s *rangeSet) hinted(addr, size uint64) bool {
	r := (*Range)(atomic.LoadPointer(&s.hint))
	return addr-r.Start < r.End-r.Start && size <= r.End-addr
}

// lookup returns the span that holds [addr, addr+size), if one does
// (a binary search that leaves the hint alone).
func (s *rangeSet) lookup(addr, size uint64) (Range, bool) {
	i, ok := slices.BinarySearchFunc(s.spans, addr, func(r Range, a uint64) int {
		switch {
		case r.End <= a:
			return -1
		case r.Start > a:
			return 1
		}
		return 0
	})
	if !ok || size > s.spans[i].End-addr {
		return Range{}, false
	}
	return s.spans[i], true
}

// search is find by binary search; it moves the hint.
func (s *rangeSet) search(addr, size uint64) bool {
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
	atomic.StorePointer(&s.hint, unsafe.Pointer(&s.spans[lo]))
	return size <= s.spans[lo].End-addr
}
