// Package strace parses the output of strace -f (written with -o FILE or
// to the terminal), with or without timestamps (-t, -tt, -ttt, -r) and
// durations (-T), into a trace (see package importer).
//
// Every line is one of: a syscall ("PID name(args) = ret"), the first
// half of one ("... <unfinished ...>"), its second half ("<... name
// resumed>args) = ret"), a signal ("--- SIGCHLD {...} ---"), a task's end
// ("+++ exited with 0 +++", "+++ killed by SIGKILL +++"), a personality
// change ("[ Process PID=N runs in 32 bit mode. ]") or a message of
// strace's own ("strace: Process N attached"). Anything else is a
// problem, reported with its line number.
//
// Lines without a PID (strace without -f, or the first process of
// strace -f writing to a terminal) belong to task 1.
package strace

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/emulator-shim/trace/importer"
)

// NoPID is the task of lines that name none.
const NoPID = 1

// Parser parses strace output. Make one per log.
type Parser struct {
	// unfinished holds, per task, the call strace printed the first
	// half of.
	unfinished map[int32]*half
	split      []string
	args       []importer.Arg
}

type half struct {
	line int64
	name string
	args string
}

// New returns a Parser.
func New() *Parser { return &Parser{unfinished: map[int32]*half{}} }

// Name returns "strace".
func (p *Parser) Name() string { return "strace" }

// End counts the calls left unfinished.
func (p *Parser) End(im *importer.Importer) {
	im.Unfinished(len(p.unfinished))
	clear(p.unfinished)
}

// Line parses one line.
func (p *Parser) Line(im *importer.Importer, n int64, line []byte) error {
	s := string(line)
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty line")
	}
	if rest, ok := strings.CutPrefix(s, "strace: "); ok {
		if rest == "" {
			return fmt.Errorf("empty strace message")
		}
		im.Notice()
		return nil
	}
	pid, body, err := splitPID(s)
	if err != nil {
		return err
	}
	body = skipTimestamp(body)
	switch {
	case strings.HasPrefix(body, "--- ") && strings.HasSuffix(body, " ---"):
		im.Notice()
		return nil
	case len(body) >= len("+++  +++") && strings.HasPrefix(body, "+++ ") && strings.HasSuffix(body, " +++"):
		return p.end(im, n, pid, body[4:len(body)-4])
	case strings.HasPrefix(body, "[ Process PID="):
		return personality(im, body)
	case strings.HasPrefix(body, "<... "):
		return p.resumed(im, n, pid, body)
	}
	return p.call(im, n, pid, body)
}

// splitPID takes the "PID " or "[pid PID] " prefix off a line.
func splitPID(s string) (int32, string, error) {
	if rest, ok := strings.CutPrefix(s, "[pid"); ok {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return 0, "", fmt.Errorf(`"[pid" without "]"`)
		}
		pid, err := parsePID(strings.TrimSpace(rest[:end]))
		if err != nil {
			return 0, "", err
		}
		return pid, strings.TrimLeft(rest[end+1:], " "), nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && i < len(s) && s[i] == ' ' {
		pid, err := parsePID(s[:i])
		if err != nil {
			return 0, "", err
		}
		return pid, strings.TrimLeft(s[i:], " "), nil
	}
	return NoPID, s, nil
}

func parsePID(s string) (int32, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad pid %q", s)
	}
	return int32(v), nil
}

// skipTimestamp takes a -t, -tt, -ttt or -r timestamp off the body.
func skipTimestamp(s string) string {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return s
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == ':' || s[i] == '.') {
		i++
	}
	if i < len(s) && s[i] == ' ' {
		return strings.TrimLeft(s[i:], " ")
	}
	return s
}

// end handles "+++ exited with N +++" and "+++ killed by SIG +++".
func (p *Parser) end(im *importer.Importer, n int64, pid int32, what string) error {
	if _, ok := p.unfinished[pid]; ok {
		// Killed inside a call that never returned.
		im.Unfinished(1)
		delete(p.unfinished, pid)
	}
	switch {
	case strings.HasPrefix(what, "exited with "):
		im.Exit(n, pid, false)
	case strings.HasPrefix(what, "killed by SIG"):
		im.Exit(n, pid, true)
	case what == "superseded by execve":
		// The thread that exec'd took this TID; nothing ends.
		im.Notice()
	default:
		return fmt.Errorf("unknown end of task %q", what)
	}
	return nil
}

// personality handles "[ Process PID=N runs in 32 bit mode. ]".
func personality(im *importer.Importer, body string) error {
	var pid int32
	var bits string
	if _, err := fmt.Sscanf(body, "[ Process PID=%d runs in %s", &pid, &bits); err != nil || pid <= 0 {
		return fmt.Errorf("unrecognized personality notice")
	}
	switch bits {
	case "32":
		im.SetABI(pid, trace.ABIx86_32)
	case "64":
		im.SetABI(pid, trace.ABIx86_64)
	default:
		// x32 and others: not a guest ABI fexrl knows.
		im.Notice()
		return nil
	}
	im.Notice()
	return nil
}

// resumed handles "<... name resumed>args) = ret".
func (p *Parser) resumed(im *importer.Importer, n int64, pid int32, body string) error {
	end := strings.Index(body, " resumed>")
	if end < len("<... ") {
		return fmt.Errorf(`"<..." without "NAME resumed>"`)
	}
	name := body[len("<... "):end]
	h := p.unfinished[pid]
	if h == nil || h.name != name {
		return fmt.Errorf("%s resumed, but task %d has no unfinished %s", name, pid, name)
	}
	delete(p.unfinished, pid)
	rest := body[end+len(" resumed>"):]
	return p.finish(im, n, pid, name, h.args, rest)
}

// call handles "name(args) = ret" and "name(args <unfinished ...>".
func (p *Parser) call(im *importer.Importer, n int64, pid int32, body string) error {
	open := strings.IndexByte(body, '(')
	if open <= 0 || !isName(body[:open]) {
		return fmt.Errorf("not a syscall, signal or notice")
	}
	name := body[:open]
	rest := body[open+1:]
	if r, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
		if _, busy := p.unfinished[pid]; busy {
			return fmt.Errorf("task %d starts %s with another call unfinished", pid, name)
		}
		p.unfinished[pid] = &half{line: n, name: name, args: r}
		if importer.Interesting(name) {
			c, err := p.parse(n, pid, name, r, "")
			if err != nil {
				return err
			}
			c.Unfinished = true
			im.Syscall(c)
		}
		return nil
	}
	return p.finish(im, n, pid, name, "", rest)
}

// finish parses a complete call: first are the arguments printed before
// <unfinished ...>, if any; rest is "args) = ret".
func (p *Parser) finish(im *importer.Importer, n int64, pid int32, name, first, rest string) error {
	if strings.HasSuffix(rest, " <detached ...>") || strings.HasSuffix(rest, "<detached ...>") {
		im.Notice()
		return nil
	}
	args, ret, ok := splitRet(rest)
	if !ok {
		return fmt.Errorf("%s: no \") = \" return value", name)
	}
	c, err := p.parse(n, pid, name, first+args, ret)
	if err != nil {
		return err
	}
	im.Syscall(c)
	if name == "exit_group" || name == "exit" {
		delete(p.unfinished, pid)
	}
	return nil
}

// splitRet splits "args)   = ret" (strace pads the return to a column)
// into the arguments and the return value.
func splitRet(s string) (args, ret string, ok bool) {
	for i := strings.LastIndex(s, " = "); i >= 0; i = strings.LastIndex(s[:i], " = ") {
		before := strings.TrimRight(s[:i], " ")
		if strings.HasSuffix(before, ")") {
			return before[:len(before)-1], s[i+len(" = "):], true
		}
	}
	return "", "", false
}

func isName(s string) bool {
	if s == "????" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// parse builds the call; args and ret are only parsed for the syscalls
// the importer keeps or learns the ABI from.
func (p *Parser) parse(n int64, pid int32, name, args, ret string) (*importer.Call, error) {
	c := &importer.Call{Line: n, PID: pid, Name: name}
	if num, ok := strings.CutPrefix(name, "syscall_"); ok {
		v, ok := parseNumber(num)
		if !ok {
			return nil, fmt.Errorf("bad syscall number in %q", name)
		}
		c.Name, c.Nr = "", int(v)
	}
	if c.Name == "????" {
		c.Name = "unknown"
	}
	if ret != "" {
		if err := parseRet(ret, c); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if c.Name != "" && !importer.Interesting(c.Name) && c.Name != "set_robust_list" {
		return c, nil
	}
	var err error
	p.split, err = importer.SplitArgs(args, p.split)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.args = p.args[:0]
	for i, a := range p.split {
		if c.Name == "clone3" && i == 0 {
			p.args = append(p.args, structFlags(a))
			continue
		}
		p.args = append(p.args, importer.ParseArg(a))
	}
	if c.Name == "futex" {
		p.args = futexArgs(p.args)
	}
	c.Args = p.args
	return c, nil
}

// futexArgs puts the arguments strace printed for futex in their
// places: strace prints only those the operation uses (FUTEX_WAKE:
// uaddr, op, val; FUTEX_WAIT_BITSET: uaddr, op, val, timeout, val3).
func futexArgs(args []importer.Arg) []importer.Arg {
	if len(args) < 2 || !args[1].Known {
		return args
	}
	var slots []int
	switch args[1].Value &^ (128 | 256) {
	case 0: // FUTEX_WAIT: uaddr, op, val, timeout
		slots = []int{0, 1, 2, 3}
	case 1: // FUTEX_WAKE
		slots = []int{0, 1, 2}
	case 3: // FUTEX_REQUEUE: uaddr, op, val, val2, uaddr2
		slots = []int{0, 1, 2, 3, 4}
	case 6, 13: // FUTEX_LOCK_PI, FUTEX_LOCK_PI2: uaddr, op, timeout
		slots = []int{0, 1, 3}
	case 7, 8: // FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI
		slots = []int{0, 1}
	case 9: // FUTEX_WAIT_BITSET: uaddr, op, val, timeout, val3
		slots = []int{0, 1, 2, 3, 5}
	case 10: // FUTEX_WAKE_BITSET: uaddr, op, val, val3
		slots = []int{0, 1, 2, 5}
	case 11: // FUTEX_WAIT_REQUEUE_PI: uaddr, op, val, timeout, uaddr2
		slots = []int{0, 1, 2, 3, 4}
	default: // all six, in order
		return args
	}
	if len(args) != len(slots) {
		return args
	}
	var out [6]importer.Arg
	for i, a := range args {
		out[slots[i]] = a
	}
	// The slots strace leaves out are unused by the operation: zero, as
	// far as fexrl is concerned, but not in the log.
	return append(args[:0], out[:]...)
}

// structFlags reads the flags of clone3's struct clone_args as strace
// prints it: {flags=CLONE_VM|..., ...} => {parent_tid=[N]}.
func structFlags(s string) importer.Arg {
	if i := strings.Index(s, " => "); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	fields, err := importer.SplitArgs(s, nil)
	if err == nil {
		for _, f := range fields {
			if a := importer.ParseArg(f); a.Name == "flags" {
				return a
			}
		}
	}
	return importer.Arg{Name: "flags"}
}

func parseNumber(s string) (uint64, bool) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		v, err := strconv.ParseUint(h, 16, 64)
		return v, err == nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// parseRet parses what follows " = ": "0", "0x7f00", "-1 ENOSYS (...)",
// "?" (no return), each possibly followed by strace's comments and a
// -T duration.
func parseRet(s string, c *importer.Call) error {
	if i := strings.LastIndex(s, " <"); i >= 0 && strings.HasSuffix(s, ">") {
		s = s[:i]
	}
	if s == "?" || strings.HasPrefix(s, "? ") {
		return nil
	}
	tok, more, _ := strings.Cut(s, " ")
	// "3</dev/null>" with -y: the number comes first.
	if i := strings.IndexByte(tok, '<'); i > 0 {
		tok = tok[:i]
	}
	var v int64
	switch {
	case strings.HasPrefix(tok, "0x"):
		u, err := strconv.ParseUint(tok[2:], 16, 64)
		if err != nil {
			return fmt.Errorf("bad return value %q", tok)
		}
		v = int64(u)
	default:
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return fmt.Errorf("bad return value %q", tok)
		}
		v = n
	}
	if v == -1 && more != "" {
		name, _, _ := strings.Cut(more, " ")
		if e, ok := importer.ErrnoValue(name); ok {
			v = -e
		} else if strings.HasPrefix(name, "E") {
			return fmt.Errorf("unknown errno %q", name)
		}
	}
	c.Ret, c.HasRet = v, true
	if c.Ret == -512 || c.Ret == -513 || c.Ret == -514 || c.Ret == -516 {
		// ERESTART*: the call was interrupted and will run again; the
		// guest never sees this value.
		c.HasRet = false
	}
	return nil
}
