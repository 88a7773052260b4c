package trace

import (
	"strconv"
	"testing"
)

func TestEightDigits(t *testing.T) {
	for _, s := range []string{"00000000", "12345678", "99999999", "10000001", "87654321"} {
		v := uint64(0)
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(s[i])
		}
		want, _ := strconv.ParseUint(s, 10, 64)
		if got := eightDigits(v); got != want {
			t.Errorf("%s: %d", s, got)
		}
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in   string
		v    uint64
		neg  bool
		fail bool
	}{
		{"0", 0, false, false},
		{"7", 7, false, false},
		{"12345678901234567", 12345678901234567, false, false},
		{"1234567890123456789", 1234567890123456789, false, false},
		{"18446744073709551615", 1<<64 - 1, false, false},
		{"18446744073709551616", 0, false, true},
		{"99999999999999999999", 0, false, true},
		{"123456789012345678901", 0, false, true},
		{"-9223372036854775808", 1 << 63, true, false},
		{"00", 0, false, true},
		{"-", 0, false, true},
		{"1.0", 0, false, true},
		{"2e5", 0, false, true},
	}
	for _, tt := range tests {
		var s scanner
		s.reset([]byte(tt.in))
		neg, v, err := s.number()
		if (err != nil) != tt.fail || !tt.fail && (v != tt.v || neg != tt.neg) {
			t.Errorf("%s: %v %d %v", tt.in, neg, v, err)
		}
	}
}

func TestAppendHex(t *testing.T) {
	for _, v := range []uint64{0, 1, 15, 16, 0x1000, 0x7f0000001234, 1<<64 - 1} {
		if got, want := string(appendHex([]byte("x"), v)), "x0x"+strconv.FormatUint(v, 16); got != want {
			t.Errorf("%d: %s, want %s", v, got, want)
		}
	}
}
