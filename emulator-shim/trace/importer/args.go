package importer

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SplitArgs splits a syscall's argument text at its top-level commas,
// keeping strings, brackets, braces, parentheses and /* comments */
// whole, and trims each argument.
func SplitArgs(s string, out []string) ([]string, error) {
	out = out[:0]
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	depth := 0
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j, err := skipString(s, i)
			if err != nil {
				return out, err
			}
			i = j
		case '/':
			if i+1 < len(s) && s[i+1] == '*' {
				end := strings.Index(s[i+2:], "*/")
				if end < 0 {
					return out, fmt.Errorf("unterminated comment")
				}
				i += end + 3
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return out, fmt.Errorf("unbalanced %q in the arguments", c)
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return out, fmt.Errorf("unbalanced brackets in the arguments")
	}
	return append(out, strings.TrimSpace(s[start:])), nil
}

// skipString returns the index of the quote that ends the string
// starting at s[i] (strace may follow it with "..." when it cut it).
func skipString(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// ParseArg parses one argument: a number, NULL, a symbolic expression of
// known constants (FUTEX_WAIT_PRIVATE, CLONE_VM|CLONE_THREAD|SIGCHLD),
// optionally named (flags=...). Anything else (a string, a struct, a
// dereferenced pointer such as [24]) is an argument of unknown value.
func ParseArg(s string) Arg {
	var a Arg
	s = stripComments(s)
	if i := strings.IndexByte(s, '='); i > 0 && isIdent(s[:i]) {
		a.Name, s = s[:i], s[i+1:]
	}
	a.Value, a.Known = ParseValue(s)
	return a
}

// stripComments removes strace's /* ... */ remarks.
func stripComments(s string) string {
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			return strings.TrimSpace(s)
		}
		j := strings.Index(s[i:], "*/")
		if j < 0 {
			return strings.TrimSpace(s)
		}
		s = s[:i] + s[i+j+2:]
	}
}

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// ParseValue parses a value: a decimal, negative, hex (0x) or octal (0)
// integer, NULL, or constants joined by |.
func ParseValue(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if s == "NULL" {
		return 0, true
	}
	if v, ok := parseInt(s); ok {
		return v, true
	}
	if !strings.ContainsAny(s, "|") && !isIdent(s) {
		return 0, false
	}
	var v uint64
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		if n, ok := parseInt(part); ok {
			v |= n
			continue
		}
		n, ok := Constant(part)
		if !ok {
			return 0, false
		}
		v |= n
	}
	return v, true
}

// parseInt parses a decimal, negative decimal, hex or octal integer.
func parseInt(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	var v uint64
	var err error
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		v, err = strconv.ParseUint(s[2:], 16, 64)
	case len(s) > 1 && s[0] == '0':
		v, err = strconv.ParseUint(s[1:], 8, 64)
	default:
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// Constant returns the value of a constant a log may print in the
// arguments of fexrl's syscalls: futex operations and flags, clone
// flags, signal numbers and FUTEX_BITSET_MATCH_ANY.
func Constant(name string) (uint64, bool) {
	if strings.HasPrefix(name, "FUTEX_") {
		return futexConstant(name)
	}
	if strings.HasPrefix(name, "CLONE_") {
		return cloneConstant(name)
	}
	if strings.HasPrefix(name, "SIG") {
		if s := unix.SignalNum(name); s != 0 {
			return uint64(s), true
		}
	}
	return 0, false
}

func futexConstant(name string) (uint64, bool) {
	switch name {
	case "FUTEX_BITSET_MATCH_ANY":
		return 0xffffffff, true
	case "FUTEX_CLOCK_REALTIME":
		return 256, true
	case "FUTEX_PRIVATE_FLAG":
		return 128, true
	case "FUTEX_ROBUST_UNLOCK":
		return 512, true
	case "FUTEX_ROBUST_LIST32":
		return 1024, true
	}
	var v uint64
	if base, ok := strings.CutSuffix(name, "_PRIVATE"); ok {
		name, v = base, 128
	}
	ops := []string{"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE",
		"FUTEX_WAKE_OP", "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET",
		"FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2"}
	for i, op := range ops {
		if op == name {
			return v | uint64(i), true
		}
	}
	return 0, false
}

func cloneConstant(name string) (uint64, bool) {
	switch name {
	case "CLONE_VM":
		return unix.CLONE_VM, true
	case "CLONE_FS":
		return unix.CLONE_FS, true
	case "CLONE_FILES":
		return unix.CLONE_FILES, true
	case "CLONE_SIGHAND":
		return unix.CLONE_SIGHAND, true
	case "CLONE_PIDFD":
		return unix.CLONE_PIDFD, true
	case "CLONE_PTRACE":
		return unix.CLONE_PTRACE, true
	case "CLONE_VFORK":
		return unix.CLONE_VFORK, true
	case "CLONE_PARENT":
		return unix.CLONE_PARENT, true
	case "CLONE_THREAD":
		return unix.CLONE_THREAD, true
	case "CLONE_NEWNS":
		return unix.CLONE_NEWNS, true
	case "CLONE_SYSVSEM":
		return unix.CLONE_SYSVSEM, true
	case "CLONE_SETTLS":
		return unix.CLONE_SETTLS, true
	case "CLONE_PARENT_SETTID":
		return unix.CLONE_PARENT_SETTID, true
	case "CLONE_CHILD_CLEARTID":
		return unix.CLONE_CHILD_CLEARTID, true
	case "CLONE_DETACHED":
		return unix.CLONE_DETACHED, true
	case "CLONE_UNTRACED":
		return unix.CLONE_UNTRACED, true
	case "CLONE_CHILD_SETTID":
		return unix.CLONE_CHILD_SETTID, true
	case "CLONE_NEWCGROUP":
		return unix.CLONE_NEWCGROUP, true
	case "CLONE_NEWUTS":
		return unix.CLONE_NEWUTS, true
	case "CLONE_NEWIPC":
		return unix.CLONE_NEWIPC, true
	case "CLONE_NEWUSER":
		return unix.CLONE_NEWUSER, true
	case "CLONE_NEWPID":
		return unix.CLONE_NEWPID, true
	case "CLONE_NEWNET":
		return unix.CLONE_NEWNET, true
	case "CLONE_IO":
		return unix.CLONE_IO, true
	case "CLONE_CLEAR_SIGHAND":
		return 0x100000000, true
	case "CLONE_INTO_CGROUP":
		return 0x200000000, true
	case "CLONE_NEWTIME":
		return unix.CLONE_NEWTIME, true
	}
	return 0, false
}

// ErrnoValue returns the number of an errno name such as "ENOSYS".
// Errno numbers are the asm-generic ones, the same on x86_32, x86_64 and
// arm64.
func ErrnoValue(name string) (int64, bool) {
	for e := unix.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == name {
			return int64(e), true
		}
	}
	switch name {
	case "ERESTARTSYS":
		return 512, true
	case "ERESTARTNOINTR":
		return 513, true
	case "ERESTARTNOHAND":
		return 514, true
	case "ERESTART_RESTARTBLOCK":
		return 516, true
	}
	return 0, false
}
