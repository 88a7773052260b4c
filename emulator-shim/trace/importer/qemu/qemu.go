// Package qemu parses the -strace output of QEMU's linux-user emulators
// (qemu-i386, qemu-x86_64) into a trace (see package importer).
//
// QEMU prints "PID name(args) = ret" per syscall, where PID is the
// process (getpid), not the thread: all threads of a process are one
// task in the trace. Its return values read "-1 errno=38 (Function not
// implemented)". A call that never returns (exit_group) has no " = ret".
// Processes write to one stream without locking, so their lines can be
// cut and mixed: such lines match none of the forms and are reported as
// problems, with their line numbers. "Unknown syscall N" lines (a syscall
// QEMU cannot print) keep their number; signals ("--- SIGALRM {...}
// ---") are notices.
package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
)

// Parser parses QEMU -strace output. Make one per log.
type Parser struct {
	split []string
	args  []importer.Arg
}

// New returns a Parser.
func New() *Parser { return &Parser{} }

// Name returns "qemu".
func (p *Parser) Name() string { return "qemu" }

// End does nothing: QEMU prints no unfinished calls.
func (p *Parser) End(*importer.Importer) {}

// Line parses one line.
func (p *Parser) Line(im *importer.Importer, n int64, line []byte) error {
	s := string(line)
	if strings.HasPrefix(s, "--- ") && strings.HasSuffix(s, " ---") {
		im.Notice()
		return nil
	}
	if strings.HasPrefix(s, " = ") {
		return fmt.Errorf("a return value without its call (output of two processes mixed)")
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ' ' {
		return fmt.Errorf("no PID at the start of the line (output of two processes mixed?)")
	}
	v, err := strconv.ParseInt(s[:i], 10, 32)
	if err != nil || v <= 0 {
		return fmt.Errorf("bad pid %q", s[:i])
	}
	pid := int32(v)
	body := s[i+1:]
	if num, ok := strings.CutPrefix(body, "Unknown syscall "); ok {
		nr, err := strconv.ParseUint(strings.TrimSpace(num), 10, 31)
		if err != nil {
			return fmt.Errorf("bad syscall number %q", num)
		}
		im.Syscall(&importer.Call{Line: n, PID: pid, Nr: int(nr)})
		return nil
	}
	open := strings.IndexByte(body, '(')
	if open <= 0 || !isName(body[:open]) {
		return fmt.Errorf("not a syscall")
	}
	name := body[:open]
	closing, err := matching(body, open)
	if err != nil {
		return fmt.Errorf("%s: %w (output of two processes mixed?)", name, err)
	}
	c := &importer.Call{Line: n, PID: pid, Name: name}
	tail := body[closing+1:]
	switch {
	case tail == "":
		// No return (yet): exit_group, or a call another process's
		// output interrupted.
	case strings.HasPrefix(tail, " = "):
		if err := parseRet(tail[3:], c); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	default:
		return fmt.Errorf("%s: unexpected %q after the arguments (output of two processes mixed?)", name, shorten(tail))
	}
	if importer.Interesting(name) {
		p.split, err = importer.SplitArgs(body[open+1:closing], p.split)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p.args = p.args[:0]
		for _, a := range p.split {
			p.args = append(p.args, importer.ParseArg(a))
		}
		c.Args = p.args
	}
	im.Syscall(c)
	if name == "exit_group" {
		im.EndProcess(n, pid)
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// matching returns the index of the parenthesis that closes s[open].
func matching(s string, open int) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '"':
			// QEMU prints strings with C escapes.
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if i >= len(s) {
				return 0, fmt.Errorf("unterminated string")
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				if s[i] != ')' {
					return 0, fmt.Errorf("unbalanced brackets")
				}
				return i, nil
			}
			if depth < 0 {
				return 0, fmt.Errorf("unbalanced brackets")
			}
		}
	}
	return 0, fmt.Errorf("the arguments do not end")
}

// parseRet parses "0", "0x40005000" or "-1 errno=38 (Function not
// implemented)", possibly followed by what the call wrote ("0 ({tv_sec
// = 1,tv_nsec = 2})").
func parseRet(s string, c *importer.Call) error {
	tok, more, _ := strings.Cut(s, " ")
	var v int64
	if h, ok := strings.CutPrefix(tok, "0x"); ok {
		u, err := strconv.ParseUint(h, 16, 64)
		if err != nil {
			return fmt.Errorf("bad return value %q", tok)
		}
		v = int64(u)
	} else {
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return fmt.Errorf("bad return value %q", tok)
		}
		v = n
	}
	if e, ok := strings.CutPrefix(more, "errno="); ok {
		num, _, _ := strings.Cut(e, " ")
		n, err := strconv.ParseInt(num, 10, 32)
		if err != nil || n <= 0 || v != -1 {
			return fmt.Errorf("bad errno in %q", s)
		}
		v = -n
	}
	c.Ret, c.HasRet = v, true
	return nil
}
