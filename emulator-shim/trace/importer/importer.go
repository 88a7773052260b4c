// Package importer turns syscall logs that users already have (strace -f,
// qemu-i386 -strace, qemu-x86_64 -strace) into traces: syscall events
// for the syscalls fexrl cares about, task events for the clones whose
// child the log names, and exit and exec events without memory, so that
// fexrl replay can show the registrations and answers.
//
// The format parsers live in the sub-packages strace and qemu; this
// package holds what they share: the stream of events, the ABI of each
// process image (detected from the log when not given), argument
// parsing and the accounting of every line, so that nothing is dropped
// silently: a line is a syscall (kept or counted as not fexrl's
// business), a notice (signals, exits, strace's own messages: counted),
// or a problem (reported with its line number, or fatal in strict mode).
package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/emulator-shim/trace"
	"github.com/fexrl/fexrl/translator"
)

// Parser parses one log format, line by line, into calls on an Importer.
type Parser interface {
	// Name is the format's name ("strace", "qemu"), the trace's source.
	Name() string
	// Line parses line number n (without its newline). An error says the
	// line could not be parsed; the importer reports it and goes on (or
	// stops, in strict mode).
	Line(im *Importer, n int64, line []byte) error
	// End is called after the last line.
	End(im *Importer)
}

// Options configure an import.
type Options struct {
	// ABI is the guests' ABI, x86_32 or x86_64; "" or "auto" detects it
	// per process image from the log (i386-only syscalls such as mmap2,
	// the head size passed to set_robust_list, strace's personality
	// notices), falling back to DefaultABI.
	ABI string
	// DefaultABI is the ABI of an image the log gives no hint about; ""
	// means x86_64.
	DefaultABI string
	// Strict makes the first line that cannot be parsed an error.
	Strict bool
	// MaxProblems is how many problems Result keeps (all are counted);
	// 0 means 100.
	MaxProblems int
	// Host is the machine the log came from; empty fields become
	// "linux" and "unknown".
	Host trace.Host
	// Command is the guest's command line, if known.
	Command []string
	// Progress, if set, is called now and then with the bytes and lines
	// read so far.
	Progress func(offset, lines int64)
}

// Problem is a line that could not be parsed.
type Problem struct {
	Line int64
	Err  error
	// Text is the line (shortened when long).
	Text string
}

// Result says what an import did with every line.
type Result struct {
	// Lines counts the lines read.
	Lines int64
	// Syscalls counts the syscall lines; Kept those written to the trace
	// (fexrl's syscalls), Other those left out (not fexrl's business).
	Syscalls, Kept, Other int64
	// Tasks, Exits and Execs count the task, exit and exec events written.
	Tasks, Exits, Execs int64
	// Notices counts the lines that are no syscall: signals, exits, the
	// tracer's own messages.
	Notices int64
	// Unfinished counts calls the log started but never finished.
	Unfinished int64
	// Defaulted counts events whose process image gave no ABI hint and
	// got the default ABI.
	Defaulted int64
	// ProblemCount counts the lines that could not be parsed; Problems
	// keeps the first ones.
	ProblemCount int64
	Problems     []Problem
	// ABIs are the guest ABIs written to the trace.
	ABIs []string
}

// Events counts the events written.
func (r *Result) Events() int64 { return r.Kept + r.Tasks + r.Exits + r.Execs }

// maxPending bounds the events held back while a process image's ABI is
// not known yet; past it the oldest image gets the default ABI.
const maxPending = 1 << 16

// Importer drives a Parser and writes the trace.
type Importer struct {
	opts   Options
	w      *trace.Writer
	res    Result
	archs  map[string]abi.Arch
	defABI string
	tasks  map[int32]*task
	// adopted holds the children that showed up before their parent's
	// clone returned, so the return does not create them again.
	adopted map[int32]bool
	queue   []pending
	qhead   int
	seen    map[string]bool
	ev      trace.Event
	lineNo  int64
	lastErr error
}

// task is one task the log showed.
type task struct {
	tid, tgid int32
	img       *image
	// lastCall is the last fexrl syscall the task made (for the cause of
	// its exit).
	lastCall string
	// cloning holds the clone the task has started and not finished
	// (strace's <unfinished ...>): its flags, for a child that shows up
	// before the clone returns.
	cloning      bool
	cloneFlags   uint64
	cloneFlagsOK bool
}

// image is a program image: the tasks that share it share its ABI.
type image struct {
	abi string // "" until known
}

// pending is an event waiting for its image's ABI.
type pending struct {
	img     *image
	ev      trace.Event
	name    string // syscall name, or "" when ev.Nr is the number
	clone   [5]Arg // clone's flags, stack, parent_tid, child_tid, tls
	isClone bool
}

// Run reads the log from r with p and writes the trace to w; when w is
// an *os.File-like io.WriterAt the header is rewritten at the end with
// the ABIs found. It returns what it did with every line; an error is a
// read or write error, or in strict mode the first bad line.
func Run(r io.Reader, w io.Writer, p Parser, opts Options) (*Result, error) {
	im, err := newImporter(w, p.Name(), opts)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 256<<10)
	var offset int64
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return &im.res, err
		}
		offset += int64(len(line))
		im.lineNo++
		im.res.Lines++
		line = bytes.TrimRight(line, "\r\n")
		if perr := p.Line(im, im.lineNo, line); perr != nil {
			if ferr := im.problem(im.lineNo, line, perr); ferr != nil {
				return &im.res, ferr
			}
		}
		if im.lastErr != nil {
			return &im.res, im.lastErr
		}
		if opts.Progress != nil && im.lineNo&0x3fff == 0 {
			opts.Progress(offset, im.lineNo)
		}
		if err == io.EOF {
			break
		}
	}
	p.End(im)
	im.flush(true)
	if im.lastErr != nil {
		return &im.res, im.lastErr
	}
	if err := im.w.Flush(); err != nil {
		return &im.res, err
	}
	im.res.ABIs = trace.SortABIs(im.seen)
	if f, ok := w.(io.WriterAt); ok && len(im.res.ABIs) > 0 {
		h := im.header(p.Name())
		h.ABIs = im.res.ABIs
		if err := im.w.RewriteHeader(f, h); err != nil {
			return &im.res, err
		}
	}
	if opts.Progress != nil {
		opts.Progress(offset, im.lineNo)
	}
	return &im.res, nil
}

func newImporter(w io.Writer, source string, opts Options) (*Importer, error) {
	im := &Importer{
		opts:    opts,
		w:       trace.NewWriter(w),
		archs:   map[string]abi.Arch{trace.ABIx86_32: x86_32.Arch(), trace.ABIx86_64: x86_64.Arch()},
		tasks:   map[int32]*task{},
		adopted: map[int32]bool{},
		seen:    map[string]bool{},
	}
	switch opts.ABI {
	case "", "auto":
		im.opts.ABI = ""
	case trace.ABIx86_32, trace.ABIx86_64:
	default:
		return nil, fmt.Errorf("unknown ABI %q (want auto, %s or %s)", opts.ABI, trace.ABIx86_32, trace.ABIx86_64)
	}
	im.defABI = opts.DefaultABI
	switch im.defABI {
	case "":
		im.defABI = trace.ABIx86_64
	case trace.ABIx86_32, trace.ABIx86_64:
	default:
		return nil, fmt.Errorf("unknown default ABI %q", opts.DefaultABI)
	}
	if im.opts.MaxProblems <= 0 {
		im.opts.MaxProblems = 100
	}
	h := im.header(source)
	if err := im.w.WriteHeaderPadded(h, trace.ABIReserve); err != nil {
		return nil, err
	}
	return im, nil
}

func (im *Importer) header(source string) trace.Header {
	host := im.opts.Host
	if host.OS == "" {
		host.OS = "linux"
	}
	if host.Arch == "" {
		host.Arch = "unknown"
	}
	abis := []string{im.defABI}
	if im.opts.ABI != "" {
		abis = []string{im.opts.ABI}
	}
	return trace.Header{Version: trace.Version, ABIs: abis, Host: host, Source: source, Command: im.opts.Command}
}

// problem records a line that could not be parsed.
func (im *Importer) problem(n int64, line []byte, err error) error {
	im.res.ProblemCount++
	text := string(line)
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if len(im.res.Problems) < im.opts.MaxProblems {
		im.res.Problems = append(im.res.Problems, Problem{Line: n, Err: err, Text: text})
	}
	if im.opts.Strict {
		return &trace.LineError{Line: n, Err: err}
	}
	return nil
}

// Notice counts a line that is not a syscall but was understood.
func (im *Importer) Notice() { im.res.Notices++ }

// Arg is one syscall argument as a log shows it.
type Arg struct {
	// Name is the argument's name when the log names it (flags=...).
	Name string
	// Value is its value when Known.
	Value uint64
	Known bool
}

// Call is one syscall line.
type Call struct {
	// Line is the line number.
	Line int64
	// PID is the task (strace) or process (qemu) that made the call.
	PID int32
	// Name is the syscall's name, or "" when only Nr is known.
	Name string
	Nr   int
	// Args are the arguments as parsed (nil when the caller did not
	// parse them because Interesting said no).
	Args []Arg
	// Ret is the return value when HasRet.
	Ret    int64
	HasRet bool
	// Unfinished says the call has not returned yet (strace's
	// <unfinished ...>): only its arguments are known.
	Unfinished bool
}

// Interesting reports whether a syscall of this name is one fexrl cares
// about (or tells the ABI), so that its arguments are worth parsing.
func Interesting(name string) bool {
	switch name {
	case "set_robust_list", "get_robust_list", "set_robust_list2", "get_robust_list2", "futex",
		"clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group":
		return true
	}
	return false
}

// kept reports whether a syscall is written to the trace.
func kept(name string) bool { return Interesting(name) }

func (im *Importer) task(pid int32) *task {
	if t := im.tasks[pid]; t != nil {
		return t
	}
	// A task the log did not show being created: the first one, a task
	// strace attached to, or a child whose clone has not returned yet.
	t := &task{tid: pid, tgid: pid}
	var parent *task
	for _, o := range im.tasks {
		if o.cloning && (parent == nil || o.tid < parent.tid) {
			parent = o
		}
	}
	if parent != nil {
		t.img = parent.img
		if parent.cloneFlagsOK && parent.cloneFlags&cloneThread != 0 {
			t.tgid = parent.tgid
		}
		im.tasks[pid] = t
		im.adopted[pid] = true
		im.taskEvent(t, parent.tid, parent.cloneFlags)
		return t
	}
	t.img = &image{abi: im.opts.ABI}
	im.tasks[pid] = t
	im.taskEvent(t, 0, 0)
	return t
}

func (im *Importer) taskEvent(t *task, parent int32, flags uint64) {
	e := &im.ev
	e.Reset()
	e.Kind, e.TID, e.TGID, e.Parent, e.Flags = trace.KindTask, t.tid, t.tgid, parent, flags
	im.res.Tasks++
	im.push(pending{img: t.img, ev: *e})
}

// SetABI records that task pid runs code of abiName (x86_32 or x86_64),
// as strace's personality notices say.
func (im *Importer) SetABI(pid int32, abiName string) {
	t := im.task(pid)
	if im.opts.ABI != "" {
		return
	}
	if t.img.abi == "" {
		t.img.abi = abiName
	} else if t.img.abi != abiName {
		// A change of personality: from here on the image is the new one.
		t.img = &image{abi: abiName}
		for _, o := range im.tasks {
			if o.tgid == t.tgid {
				o.img = t.img
			}
		}
	}
	im.flush(false)
}

// Syscall takes one syscall line.
func (im *Importer) Syscall(c *Call) {
	t := im.task(c.PID)
	if c.Unfinished {
		if c.Name == "clone" || c.Name == "clone3" || c.Name == "fork" || c.Name == "vfork" {
			t.cloning = true
			t.cloneFlags, t.cloneFlagsOK = cloneFlags(c)
		}
		return
	}
	im.res.Syscalls++
	if t.img.abi == "" {
		if a := hint(c); a != "" {
			t.img.abi = a
		}
	}
	if c.Name == "" {
		// Only the number is known: whether fexrl cares depends on the
		// ABI, decided when the event leaves the queue.
		e := &im.ev
		e.Reset()
		e.Kind, e.TID, e.Nr, e.SrcLine = trace.KindSyscall, c.PID, int32(c.Nr), c.Line
		e.Ret, e.HasRet = c.Ret, c.HasRet
		im.fillArgs(e, c.Args)
		im.push(pending{img: t.img, ev: *e})
		im.flush(false)
		return
	}
	if !kept(c.Name) {
		im.res.Other++
		im.flush(false)
		return
	}
	t.lastCall = c.Name
	e := &im.ev
	e.Reset()
	e.Kind, e.TID, e.SrcLine = trace.KindSyscall, c.PID, c.Line
	e.Ret, e.HasRet = c.Ret, c.HasRet
	p := pending{img: t.img, name: c.Name}
	switch c.Name {
	case "clone":
		p.isClone = true
		p.clone = cloneArgs(c.Args)
	case "clone3":
		// clone3(struct clone_args *args, size_t size): the log shows the
		// struct, not its address.
		e.UnknownArgs = 1
		if len(c.Args) > 1 {
			e.Args[1], e.UnknownArgs = c.Args[1].Value, 1|unknownIf(!c.Args[1].Known)<<1
		}
	default:
		im.fillArgs(e, c.Args)
	}
	p.ev = *e
	im.push(p)
	im.afterCall(t, c)
	im.flush(false)
}

func unknownIf(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (im *Importer) fillArgs(e *trace.Event, args []Arg) {
	for i := 0; i < 6; i++ {
		if i >= len(args) || !args[i].Known {
			if i < len(args) {
				e.UnknownArgs |= 1 << i
			}
			continue
		}
		e.Args[i] = args[i].Value
	}
}

// afterCall follows the lifecycle syscalls: a clone's child, an exec's
// new image.
func (im *Importer) afterCall(t *task, c *Call) {
	switch c.Name {
	case "clone", "clone3", "fork", "vfork":
		t.cloning = false
		flags, _ := cloneFlags(c)
		switch c.Name {
		case "fork":
			flags = sigchld
		case "vfork":
			flags = cloneVM | cloneVfork | sigchld
		}
		if !c.HasRet || c.Ret <= 0 || c.Ret > 1<<31-1 {
			return
		}
		child := int32(c.Ret)
		if im.adopted[child] || im.tasks[child] != nil {
			// Created by the child's first line already (and maybe gone).
			delete(im.adopted, child)
			return
		}
		ct := &task{tid: child, tgid: child, img: t.img}
		if flags&cloneThread != 0 {
			ct.tgid = t.tgid
		}
		im.tasks[child] = ct
		im.taskEvent(ct, t.tid, flags)
	case "execve", "execveat":
		if !c.HasRet || c.Ret != 0 {
			return
		}
		// The other threads are gone; the task runs a new image.
		for tid, o := range im.tasks {
			if o.tgid == t.tgid && o != t {
				delete(im.tasks, tid)
			}
		}
		t.img = &image{abi: im.opts.ABI}
		e := &im.ev
		e.Reset()
		e.Kind, e.TID, e.TGID, e.Former, e.SrcLine = trace.KindExec, t.tid, t.tgid, t.tid, c.Line
		im.res.Execs++
		im.push(pending{img: t.img, ev: *e})
	}
}

// Exit takes a task's end: how it ended, if the log says (signal), or
// from its last syscall.
func (im *Importer) Exit(line int64, pid int32, killed bool) {
	t := im.tasks[pid]
	if t == nil {
		t = im.task(pid)
	}
	cause := shim.CauseExitGroup
	switch {
	case killed:
		cause = shim.CauseSignal
	case t.lastCall == "exit":
		cause = shim.CauseExit
	}
	e := &im.ev
	e.Reset()
	e.Kind, e.TID, e.TGID, e.Cause, e.SrcLine = trace.KindExit, t.tid, t.tgid, cause, line
	im.res.Exits++
	im.push(pending{img: t.img, ev: *e})
	delete(im.tasks, pid)
	im.flush(false)
}

// EndProcess ends every task of pid's thread group (qemu's exit_group).
func (im *Importer) EndProcess(line int64, pid int32) {
	t := im.tasks[pid]
	if t == nil {
		return
	}
	for tid, o := range im.tasks {
		if o.tgid == t.tgid && o != t {
			delete(im.tasks, tid)
		}
	}
	im.Exit(line, pid, false)
}

// Unfinished counts n calls left unfinished at the end of the log.
func (im *Importer) Unfinished(n int) { im.res.Unfinished += int64(n) }

func (im *Importer) push(p pending) {
	im.queue = append(im.queue, p)
	if len(im.queue)-im.qhead > maxPending {
		if h := im.queue[im.qhead].img; h.abi == "" {
			h.abi = im.defABI
		}
	}
}

// flush writes out the queued events whose ABI is known (all of them,
// with the default ABI where unknown, when all is set).
func (im *Importer) flush(all bool) {
	for im.qhead < len(im.queue) {
		p := &im.queue[im.qhead]
		if p.img.abi == "" {
			if !all {
				break
			}
			p.img.abi = im.defABI
			im.res.Defaulted++
		}
		im.emit(p)
		im.queue[im.qhead] = pending{}
		im.qhead++
	}
	if im.qhead == len(im.queue) {
		im.queue, im.qhead = im.queue[:0], 0
	} else if im.qhead > 4096 && im.qhead > len(im.queue)/2 {
		n := copy(im.queue, im.queue[im.qhead:])
		im.queue, im.qhead = im.queue[:n], 0
	}
}

func (im *Importer) emit(p *pending) {
	e := &p.ev
	a := im.archs[p.img.abi]
	if e.Kind == trace.KindSyscall {
		e.ABI = p.img.abi
		if p.name != "" {
			e.Nr = -1
			for _, n := range a.Syscalls.Named() {
				if n.Name == p.name {
					e.Nr = int32(n.Nr)
				}
			}
			if e.Nr < 0 {
				// Not a syscall of this ABI: nothing fexrl can replay.
				im.res.Other++
				return
			}
		} else if translator.Classify(a, int(e.Nr)) == translator.KindOther {
			im.res.Other++
			return
		}
		if p.isClone {
			arrangeClone(e, p.clone, a.Bits)
		}
		if a.Bits == abi.Bits32 {
			for i := range e.Args {
				e.Args[i] = uint64(uint32(e.Args[i]))
			}
		}
		im.res.Kept++
	} else if e.Kind == trace.KindTask || e.Kind == trace.KindExec {
		e.ABI = p.img.abi
	}
	im.seen[p.img.abi] = true
	if im.lastErr == nil {
		if err := im.w.WriteEvent(e); err != nil {
			im.lastErr = err
		}
	}
}

// arrangeClone puts clone's arguments in the ABI's order: x86-64 has
// (flags, stack, parent_tid, child_tid, tls), i386 (flags, stack,
// parent_tid, tls, child_tid).
func arrangeClone(e *trace.Event, c [5]Arg, bits abi.Bits) {
	order := [5]int{0, 1, 2, 3, 4} // flags, stack, ptid, ctid, tls
	if bits == abi.Bits32 {
		order = [5]int{0, 1, 2, 4, 3}
	}
	for pos, which := range order {
		if c[which].Known {
			e.Args[pos] = c[which].Value
		} else {
			e.UnknownArgs |= 1 << pos
		}
	}
}

// cloneArgs sorts clone's arguments by meaning: named ones by name
// (strace and qemu name them), unnamed ones in the x86-64 order.
func cloneArgs(args []Arg) [5]Arg {
	var out [5]Arg
	for i, a := range args {
		slot := -1
		switch a.Name {
		case "flags":
			slot = 0
		case "child_stack", "stack", "newsp":
			slot = 1
		case "parent_tid", "parent_tidptr", "ptid":
			slot = 2
		case "child_tidptr", "child_tid", "ctid":
			slot = 3
		case "tls", "newtls":
			slot = 4
		case "":
			if i < 5 {
				slot = i
			}
		}
		if slot >= 0 && !out[slot].Known {
			out[slot] = a
		}
	}
	return out
}

// cloneFlags returns the flags of a clone, clone3, fork or vfork call.
func cloneFlags(c *Call) (uint64, bool) {
	switch c.Name {
	case "clone":
		f := cloneArgs(c.Args)[0]
		return f.Value, f.Known
	case "clone3":
		for _, a := range c.Args {
			if a.Name == "flags" {
				return a.Value, a.Known
			}
		}
	case "fork":
		return sigchld, true
	case "vfork":
		return cloneVM | cloneVfork | sigchld, true
	}
	return 0, false
}

// hint returns the ABI a syscall shows, or "".
func hint(c *Call) string {
	switch c.Name {
	case "set_robust_list":
		if len(c.Args) > 1 && c.Args[1].Known {
			switch c.Args[1].Value {
			case 12:
				return trace.ABIx86_32
			case 24:
				return trace.ABIx86_64
			}
		}
	case "mmap2", "_llseek", "fstat64", "stat64", "lstat64", "fstatat64", "fcntl64", "statfs64",
		"fstatfs64", "ugetrlimit", "getuid32", "getgid32", "geteuid32", "getegid32", "setuid32",
		"setgid32", "getgroups32", "setgroups32", "getresuid32", "getresgid32", "sendfile64",
		"truncate64", "ftruncate64", "clock_gettime64", "clock_nanosleep_time64", "futex_time64",
		"socketcall", "ipc", "waitpid", "sigreturn", "_newselect", "set_thread_area", "get_thread_area",
		"ppoll_time64", "pselect6_time64", "utimensat_time64", "rt_sigtimedwait_time64":
		return trace.ABIx86_32
	case "arch_prctl", "newfstatat":
		return trace.ABIx86_64
	}
	return ""
}

// Clone flags used here (linux/sched.h), the same on every architecture.
const (
	cloneVM     = 0x100
	cloneVfork  = 0x4000
	cloneThread = 0x10000
	sigchld     = 17
)
