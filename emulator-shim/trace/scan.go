package trace

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON value from one line, strictly: integers only
// (no fractions or exponents, no leading zeros, range-checked), no
// duplicate keys (checked by the callers), no trailing data. It is
// written for the trace's flat objects and does not allocate on the
// usual path.
type scanner struct {
	b   []byte
	i   int
	buf []byte // unescaped strings
}

// syntaxError is a JSON error at a column of the line.
type syntaxError struct {
	col int
	msg string
}

// Error names the column and the problem.
func (e *syntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.col, e.msg) }

func (s *scanner) reset(b []byte) {
	s.b, s.i = b, 0
}

func (s *scanner) errAt(i int, format string, args ...any) error {
	return &syntaxError{col: i + 1, msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c > ' ' || c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return
		}
		s.i++
	}
}

// peek returns the next non-blank byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) unexpected(want string) error {
	if s.i >= len(s.b) {
		return s.errAt(s.i, "line ends where %s was expected (truncated line?)", want)
	}
	return s.errAt(s.i, "found %s where %s was expected", describe(s.b[s.i:]), want)
}

// describe names the value starting at b, for errors.
func describe(b []byte) string {
	switch c := b[0]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf("byte %#02x", c)
	default:
		return strconv.Quote(string(c))
	}
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errAt(s.i, "unexpected %s after the object", describe(s.b[s.i:]))
	}
	return nil
}

// enter consumes the opening bracket c of an object ('{') or array
// ('[').
func (s *scanner) enter(c byte) error {
	if s.peek() != c {
		if c == '{' {
			return s.unexpected("an object")
		}
		return s.unexpected("an array")
	}
	s.i++
	return nil
}

// next moves to the next member or element of the object or array just
// entered, consuming the comma before it; it reports false once it has
// consumed the closing bracket. first must be true before the first call.
func (s *scanner) next(closing byte, first *bool) (bool, error) {
	c := s.peek()
	if *first {
		*first = false
		if c == closing {
			s.i++
			return false, nil
		}
		return true, nil
	}
	switch c {
	case ',':
		s.i++
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	if closing == '}' {
		return false, s.unexpected(`"," or "}"`)
	}
	return false, s.unexpected(`"," or "]"`)
}

// key reads a member name and its colon; the name is valid until the
// next call.
func (s *scanner) key() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a member name")
	}
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	if s.peek() != ':' {
		return nil, s.unexpected(`":"`)
	}
	s.i++
	return k, nil
}

// object iterates over an object's members: it calls member with each
// key (valid until the next scanner call), positioned at the value,
// which member must consume.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.unexpected("an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.unexpected("a member name")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.unexpected(`":"`)
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.unexpected(`"," or "}"`)
		}
	}
}

// array iterates over an array's elements, calling elem positioned at
// each, which elem must consume.
func (s *scanner) array(elem func(i int) error) error {
	if s.peek() != '[' {
		return s.unexpected("an array")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.unexpected(`"," or "]"`)
		}
	}
}

// str reads a string; the result is valid until the next call.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a string")
	}
	start := s.i
	s.i++
	from := s.i
	// Fast path: no escapes, ASCII.
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			out := s.b[from:s.i]
			s.i++
			return out, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		s.i++
	}
	s.buf = append(s.buf[:0], s.b[from:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.buf, nil
		case c < 0x20:
			return nil, s.errAt(s.i, "control character %#02x in a string", c)
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return nil, s.errAt(s.i, "line ends inside a string (truncated line?)")
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				s.buf = append(s.buf, e)
			case 'b':
				s.buf = append(s.buf, '\b')
			case 'f':
				s.buf = append(s.buf, '\f')
			case 'n':
				s.buf = append(s.buf, '\n')
			case 'r':
				s.buf = append(s.buf, '\r')
			case 't':
				s.buf = append(s.buf, '\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return nil, err
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						s.i += 2
						lo, err := s.hex4()
						if err != nil {
							return nil, err
						}
						r2 = utf16.DecodeRune(r, lo)
					}
					if r2 == utf8.RuneError {
						return nil, s.errAt(s.i, "unpaired surrogate in a string")
					}
					r = r2
				}
				s.buf = utf8.AppendRune(s.buf, r)
			default:
				return nil, s.errAt(s.i-2, "bad escape \\%c in a string", e)
			}
		case c < 0x80:
			s.buf = append(s.buf, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, s.errAt(s.i, "invalid UTF-8 in a string")
			}
			s.buf = append(s.buf, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
	return nil, s.errAt(start, "string not terminated (truncated line?)")
}

func (s *scanner) hex4() (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, s.errAt(s.i, "line ends inside a \\u escape")
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, s.errAt(s.i, "bad \\u escape")
		}
		r = r<<4 | rune(d)
	}
	s.i += 4
	return r, nil
}

// number scans an integer: its sign and magnitude. Fractions, exponents
// and magnitudes of 2^64 or more are errors.
func (s *scanner) number() (neg bool, mag uint64, err error) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return false, 0, s.unexpected("an integer")
	}
	start := s.i
	if s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	digits := s.i
	b := s.b
	i := s.i
	// Up to 19 digits cannot overflow: eight at a time while they last,
	// then one by one.
	for i+8 <= len(b) && i+8-digits <= 19 {
		v := binary.LittleEndian.Uint64(b[i:])
		if (v&0xf0f0f0f0f0f0f0f0)|(((v+0x0606060606060606)&0xf0f0f0f0f0f0f0f0)>>4) != 0x3333333333333333 {
			break
		}
		mag = mag*100000000 + eightDigits(v)
		i += 8
	}
	for end := min(len(b), digits+19); i < end; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mag = mag*10 + uint64(c)
	}
	if i < len(b) && b[i]-'0' <= 9 {
		// A 20th digit may still fit; a 21st never does.
		hi, lo := bits.Mul64(mag, 10)
		d := uint64(b[i] - '0')
		i++
		for i < len(b) && b[i]-'0' <= 9 {
			i++
			hi = 1
		}
		if hi != 0 || lo > math.MaxUint64-d {
			s.i = i
			return false, 0, s.errAt(start, "number %s is out of range", s.b[start:s.i])
		}
		mag = lo + d
	}
	s.i = i
	switch n := i - digits; {
	case n == 0:
		return false, 0, s.errAt(start, "malformed number")
	case n > 1 && b[digits] == '0':
		return false, 0, s.errAt(start, "number with a leading zero")
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return false, 0, s.errAt(start, "not an integer (fractions and exponents are not allowed)")
		}
	}
	return neg, mag, nil
}

// eightDigits is the value of eight ASCII digits loaded little-endian
// (the first digit in the lowest byte).
func eightDigits(v uint64) uint64 {
	v -= 0x3030303030303030
	v = (v * 10) + (v >> 8)
	v = ((v & 0x000000ff000000ff) * (100 + (1000000 << 32))) + (((v >> 16) & 0x000000ff000000ff) * (1 + (10000 << 32)))
	return v >> 32
}

// uint reads an unsigned integer not above max.
func (s *scanner) uint(max uint64) (uint64, error) {
	start := s.peekPos()
	neg, v, err := s.number()
	if err != nil {
		return 0, err
	}
	if neg && v != 0 {
		return 0, s.errAt(start, "negative number %s where an unsigned one was expected", s.b[start:s.i])
	}
	if v > max {
		return 0, s.errAt(start, "number %s is out of range (at most %d)", s.b[start:s.i], max)
	}
	return v, nil
}

// int reads a signed integer in [min, max].
func (s *scanner) int(min, max int64) (int64, error) {
	start := s.peekPos()
	neg, mag, err := s.number()
	if err != nil {
		return 0, err
	}
	var v int64
	switch {
	case !neg && mag <= math.MaxInt64:
		v = int64(mag)
	case neg && mag <= 1<<63:
		v = -int64(mag) // -(1<<63) wraps to itself
	default:
		return 0, s.errAt(start, "number %s is out of range", s.b[start:s.i])
	}
	if v < min || v > max {
		return 0, s.errAt(start, "number %s is out of range [%d, %d]", s.b[start:s.i], min, max)
	}
	return v, nil
}

func (s *scanner) peekPos() int {
	s.ws()
	return s.i
}

func (s *scanner) bool() (bool, error) {
	s.ws()
	switch {
	case hasWord(s.b[s.i:], "true"):
		s.i += 4
		return true, nil
	case hasWord(s.b[s.i:], "false"):
		s.i += 5
		return false, nil
	}
	return false, s.unexpected("true or false")
}

func hasWord(b []byte, w string) bool {
	if len(b) < len(w) || string(b[:len(w)]) != w {
		return false
	}
	if len(b) > len(w) {
		c := b[len(w)]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			return false
		}
	}
	return true
}
