package guestmem

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestMergeRanges(t *testing.T) {
	tests := []struct {
		name string
		in   []Range
		want []Range
		err  error
	}{
		{"one", []Range{{0x1000, 0x2000}}, []Range{{0x1000, 0x2000}}, nil},
		{"adjacent merge", []Range{{0x2000, 0x3000}, {0x1000, 0x2000}}, []Range{{0x1000, 0x3000}}, nil},
		{"overlap merge", []Range{{0x1000, 0x2800}, {0x2000, 0x3000}}, []Range{{0x1000, 0x3000}}, nil},
		{"contained", []Range{{0x1000, 0x5000}, {0x2000, 0x3000}}, []Range{{0x1000, 0x5000}}, nil},
		{"gap kept, sorted", []Range{{0x5000, 0x6000}, {0x1000, 0x2000}, {0x2000, 0x2001}}, []Range{{0x1000, 0x2001}, {0x5000, 0x6000}}, nil},
		{"top of the address space", []Range{{math.MaxUint64 - 8, math.MaxUint64}}, []Range{{math.MaxUint64 - 8, math.MaxUint64}}, nil},
		{"none", nil, nil, ErrInvalid},
		{"empty", []Range{{0x1000, 0x2000}, {0x3000, 0x3000}}, nil, ErrInvalid},
		{"inverted", []Range{{0x3000, 0x2000}}, nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got, err := mergeRanges(tt.in)
			if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
				t.Fatalf("mergeRanges = %v, %v; want %v, %v", got, err, tt.want, tt.err)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatal("mergeRanges changed its argument")
			}
		})
	}
}

func TestRangeSetFind(t *testing.T) {
	s := newRangeSet([]Range{{0x1000, 0x2000}, {0x3000, 0x4000}, {0x8000, 0x9000}, {math.MaxUint64 - 16, math.MaxUint64}})
	tests := []struct {
		addr, size uint64
		want       bool
	}{
		{0x1000, 4, true},
		{0x1ffc, 4, true},
		{0x1ffd, 4, false},
		{0x2000, 4, false},
		{0x0ffe, 4, false},
		{0x3800, 8, true},
		{0x8ff8, 8, true},
		{0x8ffc, 8, false},
		{0x0, 4, false},
		{0x9000, 4, false},
		{0x5000, 4, false},
		{math.MaxUint64 - 4, 4, true},
		{math.MaxUint64 - 3, 4, false},
		{math.MaxUint64 - 1, 8, false},
	}
	// Twice, in order and reversed, so the hint is both right and wrong.
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, {13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}} {
		for _, i := range order {
			tt := tests[i]
			if got := s.find(tt.addr, tt.size); got != tt.want {
				t.Errorf("find(%#x, %d) = %v, want %v", tt.addr, tt.size, got, tt.want)
			}
		}
	}
	if !(Range{0x10, 0x20}).Contains(0x1c, 4) || (Range{0x10, 0x20}).Contains(0x1d, 4) {
		t.Error("Range.Contains")
	}
}
