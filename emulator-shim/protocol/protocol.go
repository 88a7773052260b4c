// Package protocol is the wire format between an emulator's fexrl client
// (emulator-shim/client, C) and the fexrl server (emulator-shim/server):
// versioned, size-prefixed, little-endian messages, one per datagram of a
// SOCK_SEQPACKET Unix socket.
//
// Every message starts with an 8-byte header, the message's total size
// in bytes (header included) and its type:
//
//	struct { u32 size; u32 type; }
//
// and its body is the type's fixed fields, then (for some types) a tail of
// bytes or of fixed-size elements whose element size is sent with them, so
// that either side can grow a struct without breaking the other: a reader
// takes the fields it knows and ignores bytes past them.
//
// A connection begins with the client's Hello, carrying Version; the
// server answers HelloOK with its own version and the table of syscalls the
// client offers to it, or Error when the versions differ. Then the client
// sends one request at a time (Syscall, ThreadExit, ProcessExit, Exec,
// Stats, Status) and reads until the request's final answer (Result, Done,
// StatsReply, StatusReply or Error); before it, the server may send memory
// operations (Read, Write, CAS32, Wake), each answered by one OpReply.
// TaskCreated and ExecFailed are notices, never answered.
//
// The client is C and holds no robust-list rule: it moves these bytes,
// performs the operations and calls the emulator's hooks. Everything this
// package decodes is checked (sizes, counts, lengths) and a bad message is
// an error, never a panic.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version of this package. A peer with another
// version is refused.
const Version = 1

// HeaderSize is the size of the message header.
const HeaderSize = 8

// MaxMessage is the largest message either side sends or accepts.
const MaxMessage = 64 << 10

// MaxData is the largest Read or Write payload.
const MaxData = 4096

// Type is a message type.
type Type uint32

// Client to server.
const (
	TypeHello       Type = 1
	TypeTaskCreated Type = 2
	TypeSyscall     Type = 3
	TypeThreadExit  Type = 4
	TypeProcessExit Type = 5
	TypeExec        Type = 6
	TypeExecFailed  Type = 7
	TypeStats       Type = 8
	TypeStatus      Type = 9
	TypeOpReply     Type = 10
)

// Server to client.
const (
	TypeHelloOK     Type = 101
	TypeResult      Type = 102
	TypeDone        Type = 103
	TypeRead        Type = 104
	TypeWrite       Type = 105
	TypeCAS32       Type = 106
	TypeWake        Type = 107
	TypeError       Type = 108
	TypeStatsReply  Type = 109
	TypeStatusReply Type = 110
)

// String names the type.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeTaskCreated:
		return "task-created"
	case TypeSyscall:
		return "syscall"
	case TypeThreadExit:
		return "thread-exit"
	case TypeProcessExit:
		return "process-exit"
	case TypeExec:
		return "exec"
	case TypeExecFailed:
		return "exec-failed"
	case TypeStats:
		return "stats"
	case TypeStatus:
		return "status"
	case TypeOpReply:
		return "op-reply"
	case TypeHelloOK:
		return "hello-ok"
	case TypeResult:
		return "result"
	case TypeDone:
		return "done"
	case TypeRead:
		return "read"
	case TypeWrite:
		return "write"
	case TypeCAS32:
		return "cas32"
	case TypeWake:
		return "wake"
	case TypeError:
		return "error"
	case TypeStatsReply:
		return "stats-reply"
	case TypeStatusReply:
		return "status-reply"
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed message")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Header splits a message into its type and body, checking the size.
func Header(b []byte) (Type, []byte, error) {
	if len(b) < HeaderSize {
		return 0, nil, malformed("%d bytes, shorter than a header", len(b))
	}
	size := binary.LittleEndian.Uint32(b)
	if int64(size) != int64(len(b)) {
		return 0, nil, malformed("header says %d bytes, message has %d", size, len(b))
	}
	if size > MaxMessage {
		return 0, nil, malformed("%d bytes, more than %d", size, MaxMessage)
	}
	return Type(binary.LittleEndian.Uint32(b[4:])), b[HeaderSize:], nil
}

// Hello is the client's first message.
type Hello struct {
	Version uint32
	Flags   uint32
	// PID is the emulator process; ForkedFrom the process it was forked
	// from (0 for the tree's first process or an exec'd one).
	PID, ForkedFrom int32
	// GuestBits is 32 or 64 (informational).
	GuestBits uint32
	// GuestBase: host address = guest address + GuestBase.
	GuestBase uint64
	// Program names the guest program.
	Program string
}

// HelloFlagAfterFork marks a Hello from a forked child.
const HelloFlagAfterFork = 1

const helloFixed = 32

// Filter says which guest syscalls the client offers to the server: the
// call (ABIBits, Nr) when Mask is 0, or when args[Arg] & Mask is nonzero.
type Filter struct {
	ABIBits uint32
	Nr      uint32
	Arg     uint32
	Mask    uint64
}

const filterSize = 24

// HelloOK is the server's answer to Hello.
type HelloOK struct {
	Version uint32
	Flags   uint32
	Filters []Filter
}

// TaskCreated is the notice of a new guest thread.
type TaskCreated struct {
	Parent, Child, ChildTGID int32
	CloneFlags               uint64
}

const taskCreatedFixed = 24

// Syscall offers a guest syscall.
type Syscall struct {
	TID     int32
	ABIBits uint32
	Nr      int64
	Args    [6]uint64
}

const syscallFixed = 64

// Death is one thread's registers at its death.
type Death struct {
	TID   int32
	Mode  int32
	IP    uint64
	TP    uint64
	Flags uint64
	Regs  [16]uint64
}

// DeathSize is the wire size of a Death.
const DeathSize = 8 + 3*8 + 16*8

// The causes of a ThreadExit.
const (
	CauseExit      = 0
	CauseExitGroup = 1
	CauseSignal    = 2
)

// Exit is a ThreadExit (one thread: Cause, at most one death), a
// ProcessExit (the whole process: Sig 0 for exit_group, else the fatal
// signal; a death per thread) or an Exec (TID is about to exec; a death
// per thread).
type Exit struct {
	TID    int32
	Cause  uint32 // ThreadExit
	Sig    int32  // ProcessExit
	Deaths []Death
}

const exitFixed = 16

// MaxDeaths bounds the deaths of one message.
const MaxDeaths = (MaxMessage - HeaderSize - exitFixed) / DeathSize

// ExecFailed is the notice that an announced exec failed.
type ExecFailed struct {
	TID int32
	Err int32
}

// OpReply answers one memory operation: Value is what a CAS32 found or
// a Wake woke, Data what a Read read; Err is 0 or a positive errno.
type OpReply struct {
	Value uint64
	Err   int32
	Data  []byte
}

const opReplyFixed = 16

// Result is the final answer to a Syscall.
type Result struct {
	Handled bool
	Ret     int64
}

// Done is the final answer to an exit or exec.
type Done struct {
	Lists, Entries, Marked, Woken, LimitHits, Faults uint32
}

// Op is a memory operation the server asks of the client: Read Len bytes
// at Addr, Write Data at Addr, CAS32 the word at Addr from Old to New,
// Wake N waiters on Addr.
type Op struct {
	Type     Type
	Addr     uint64
	Len      uint32
	Data     []byte
	Old, New uint32
	N        int32
}

// ErrorMsg is a final refusal with a reason.
type ErrorMsg struct {
	Code int32
	Text string
}

// begin starts a message of type t in b.
func begin(b []byte, t Type) []byte {
	b = binary.LittleEndian.AppendUint32(b, 0)
	return binary.LittleEndian.AppendUint32(b, uint32(t))
}

// finish writes the size of the message that starts at b[start].
func finish(b []byte, start int) []byte {
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

var le = binary.LittleEndian

func u32(b []byte, v uint32) []byte { return le.AppendUint32(b, v) }
func u64(b []byte, v uint64) []byte { return le.AppendUint64(b, v) }

// AppendHello appends h as a message.
func AppendHello(b []byte, h Hello) []byte {
	s := len(b)
	b = begin(b, TypeHello)
	b = u32(b, h.Version)
	b = u32(b, h.Flags)
	b = u32(b, uint32(h.PID))
	b = u32(b, uint32(h.ForkedFrom))
	b = u32(b, h.GuestBits)
	b = u32(b, 0)
	b = u64(b, h.GuestBase)
	prog := h.Program
	if max := MaxMessage - HeaderSize - helloFixed; len(prog) > max {
		prog = prog[:max]
	}
	b = append(b, prog...)
	return finish(b, s)
}

// DecodeHello decodes a Hello body.
func DecodeHello(p []byte) (Hello, error) {
	if len(p) < helloFixed {
		return Hello{}, malformed("hello: %d bytes, want at least %d", len(p), helloFixed)
	}
	return Hello{
		Version: le.Uint32(p), Flags: le.Uint32(p[4:]),
		PID: int32(le.Uint32(p[8:])), ForkedFrom: int32(le.Uint32(p[12:])),
		GuestBits: le.Uint32(p[16:]), GuestBase: le.Uint64(p[24:]),
		Program: string(p[helloFixed:]),
	}, nil
}

// AppendHelloOK appends h as a message.
func AppendHelloOK(b []byte, h HelloOK) []byte {
	s := len(b)
	b = begin(b, TypeHelloOK)
	b = u32(b, h.Version)
	b = u32(b, h.Flags)
	b = u32(b, uint32(len(h.Filters)))
	b = u32(b, filterSize)
	for _, f := range h.Filters {
		b = u32(b, f.ABIBits)
		b = u32(b, f.Nr)
		b = u32(b, f.Arg)
		b = u32(b, 0)
		b = u64(b, f.Mask)
	}
	return finish(b, s)
}

// DecodeHelloOK decodes a HelloOK body.
func DecodeHelloOK(p []byte) (HelloOK, error) {
	if len(p) < 16 {
		return HelloOK{}, malformed("hello-ok: %d bytes", len(p))
	}
	h := HelloOK{Version: le.Uint32(p), Flags: le.Uint32(p[4:])}
	n, size := le.Uint32(p[8:]), le.Uint32(p[12:])
	if size < filterSize || uint64(n)*uint64(size) != uint64(len(p)-16) {
		return HelloOK{}, malformed("hello-ok: %d filters of %d bytes in %d", n, size, len(p)-16)
	}
	for i := uint32(0); i < n; i++ {
		e := p[16+i*size:]
		h.Filters = append(h.Filters, Filter{ABIBits: le.Uint32(e), Nr: le.Uint32(e[4:]), Arg: le.Uint32(e[8:]), Mask: le.Uint64(e[16:])})
	}
	return h, nil
}

// AppendTaskCreated appends t as a message.
func AppendTaskCreated(b []byte, t TaskCreated) []byte {
	s := len(b)
	b = begin(b, TypeTaskCreated)
	b = u32(b, uint32(t.Parent))
	b = u32(b, uint32(t.Child))
	b = u32(b, uint32(t.ChildTGID))
	b = u32(b, 0)
	b = u64(b, t.CloneFlags)
	return finish(b, s)
}

// DecodeTaskCreated decodes a TaskCreated body.
func DecodeTaskCreated(p []byte) (TaskCreated, error) {
	if len(p) < taskCreatedFixed {
		return TaskCreated{}, malformed("task-created: %d bytes", len(p))
	}
	return TaskCreated{Parent: int32(le.Uint32(p)), Child: int32(le.Uint32(p[4:])), ChildTGID: int32(le.Uint32(p[8:])),
		CloneFlags: le.Uint64(p[16:])}, nil
}

// AppendSyscall appends c as a message.
func AppendSyscall(b []byte, c Syscall) []byte {
	s := len(b)
	b = begin(b, TypeSyscall)
	b = u32(b, uint32(c.TID))
	b = u32(b, c.ABIBits)
	b = u64(b, uint64(c.Nr))
	for _, a := range c.Args {
		b = u64(b, a)
	}
	return finish(b, s)
}

// DecodeSyscall decodes a Syscall body.
func DecodeSyscall(p []byte) (Syscall, error) {
	if len(p) < syscallFixed {
		return Syscall{}, malformed("syscall: %d bytes", len(p))
	}
	c := Syscall{TID: int32(le.Uint32(p)), ABIBits: le.Uint32(p[4:]), Nr: int64(le.Uint64(p[8:]))}
	for i := range c.Args {
		c.Args[i] = le.Uint64(p[16+8*i:])
	}
	return c, nil
}

// AppendExit appends e as a message of type t (TypeThreadExit,
// TypeProcessExit or TypeExec).
func AppendExit(b []byte, t Type, e Exit) []byte {
	s := len(b)
	b = begin(b, t)
	b = u32(b, uint32(e.TID))
	if t == TypeProcessExit {
		b = u32(b, uint32(e.Sig))
	} else {
		b = u32(b, e.Cause)
	}
	deaths := e.Deaths
	if len(deaths) > MaxDeaths {
		deaths = deaths[:MaxDeaths]
	}
	b = u32(b, uint32(len(deaths)))
	b = u32(b, DeathSize)
	for _, d := range deaths {
		b = u32(b, uint32(d.TID))
		b = u32(b, uint32(d.Mode))
		b = u64(b, d.IP)
		b = u64(b, d.TP)
		b = u64(b, d.Flags)
		for _, r := range d.Regs {
			b = u64(b, r)
		}
	}
	return finish(b, s)
}

// DecodeExit decodes the body of a message of type t (TypeThreadExit,
// TypeProcessExit or TypeExec).
func DecodeExit(t Type, p []byte) (Exit, error) {
	if len(p) < exitFixed {
		return Exit{}, malformed("%v: %d bytes", t, len(p))
	}
	e := Exit{TID: int32(le.Uint32(p))}
	if t == TypeProcessExit {
		e.Sig = int32(le.Uint32(p[4:]))
	} else {
		e.Cause = le.Uint32(p[4:])
	}
	n, size := le.Uint32(p[8:]), le.Uint32(p[12:])
	if size < DeathSize || uint64(n)*uint64(size) != uint64(len(p)-exitFixed) {
		return Exit{}, malformed("%v: %d deaths of %d bytes in %d", t, n, size, len(p)-exitFixed)
	}
	e.Deaths = make([]Death, n)
	for i := range e.Deaths {
		q := p[exitFixed+uint32(i)*size:]
		d := &e.Deaths[i]
		d.TID, d.Mode = int32(le.Uint32(q)), int32(le.Uint32(q[4:]))
		d.IP, d.TP, d.Flags = le.Uint64(q[8:]), le.Uint64(q[16:]), le.Uint64(q[24:])
		for j := range d.Regs {
			d.Regs[j] = le.Uint64(q[32+8*j:])
		}
	}
	return e, nil
}

// AppendExecFailed appends f as a message.
func AppendExecFailed(b []byte, f ExecFailed) []byte {
	s := len(b)
	b = begin(b, TypeExecFailed)
	b = u32(b, uint32(f.TID))
	b = u32(b, uint32(f.Err))
	return finish(b, s)
}

// DecodeExecFailed decodes an ExecFailed body.
func DecodeExecFailed(p []byte) (ExecFailed, error) {
	if len(p) < 8 {
		return ExecFailed{}, malformed("exec-failed: %d bytes", len(p))
	}
	return ExecFailed{TID: int32(le.Uint32(p)), Err: int32(le.Uint32(p[4:]))}, nil
}

// AppendEmpty appends a message of type t with no body (Stats).
func AppendEmpty(b []byte, t Type) []byte {
	s := len(b)
	return finish(begin(b, t), s)
}

// StatusFlagJSON asks for the status as JSON (else text).
const StatusFlagJSON = 1

// AppendStatus appends a Status request.
func AppendStatus(b []byte, flags uint32) []byte {
	s := len(b)
	b = begin(b, TypeStatus)
	b = u32(b, flags)
	return finish(b, s)
}

// DecodeStatus decodes a Status body into its flags.
func DecodeStatus(p []byte) (uint32, error) {
	if len(p) < 4 {
		return 0, malformed("status: %d bytes", len(p))
	}
	return le.Uint32(p), nil
}

// AppendOpReply appends r as a message.
func AppendOpReply(b []byte, r OpReply) []byte {
	s := len(b)
	b = begin(b, TypeOpReply)
	b = u64(b, r.Value)
	b = u32(b, uint32(r.Err))
	b = u32(b, uint32(len(r.Data)))
	b = append(b, r.Data...)
	return finish(b, s)
}

// DecodeOpReply decodes an OpReply body; Data aliases p.
func DecodeOpReply(p []byte) (OpReply, error) {
	if len(p) < opReplyFixed {
		return OpReply{}, malformed("op-reply: %d bytes", len(p))
	}
	r := OpReply{Value: le.Uint64(p), Err: int32(le.Uint32(p[8:]))}
	n := le.Uint32(p[12:])
	if uint64(n) != uint64(len(p)-opReplyFixed) || n > MaxData {
		return OpReply{}, malformed("op-reply: %d data bytes in %d", n, len(p)-opReplyFixed)
	}
	r.Data = p[opReplyFixed:]
	if r.Err < 0 {
		return OpReply{}, malformed("op-reply: errno %d", r.Err)
	}
	return r, nil
}

// AppendResult appends r as a message.
func AppendResult(b []byte, r Result) []byte {
	s := len(b)
	b = begin(b, TypeResult)
	h := uint32(0)
	if r.Handled {
		h = 1
	}
	b = u32(b, h)
	b = u32(b, 0)
	b = u64(b, uint64(r.Ret))
	return finish(b, s)
}

// DecodeResult decodes a Result body.
func DecodeResult(p []byte) (Result, error) {
	if len(p) < 16 {
		return Result{}, malformed("result: %d bytes", len(p))
	}
	h := le.Uint32(p)
	if h > 1 {
		return Result{}, malformed("result: handled %d", h)
	}
	return Result{Handled: h == 1, Ret: int64(le.Uint64(p[8:]))}, nil
}

// AppendDone appends d as a message.
func AppendDone(b []byte, d Done) []byte {
	s := len(b)
	b = begin(b, TypeDone)
	for _, v := range []uint32{d.Lists, d.Entries, d.Marked, d.Woken, d.LimitHits, d.Faults} {
		b = u32(b, v)
	}
	return finish(b, s)
}

// DecodeDone decodes a Done body.
func DecodeDone(p []byte) (Done, error) {
	if len(p) < 24 {
		return Done{}, malformed("done: %d bytes", len(p))
	}
	return Done{le.Uint32(p), le.Uint32(p[4:]), le.Uint32(p[8:]), le.Uint32(p[12:]), le.Uint32(p[16:]), le.Uint32(p[20:])}, nil
}

// AppendOp appends o as a message of type o.Type.
func AppendOp(b []byte, o Op) []byte {
	s := len(b)
	b = begin(b, o.Type)
	b = u64(b, o.Addr)
	switch o.Type {
	case TypeRead:
		b = u32(b, o.Len)
		b = u32(b, 0)
	case TypeWrite:
		b = u32(b, uint32(len(o.Data)))
		b = u32(b, 0)
		b = append(b, o.Data...)
	case TypeCAS32:
		b = u32(b, o.Old)
		b = u32(b, o.New)
	case TypeWake:
		b = u32(b, uint32(o.N))
		b = u32(b, 0)
	}
	return finish(b, s)
}

// DecodeOp decodes the body of a memory operation of type t.
func DecodeOp(t Type, p []byte) (Op, error) {
	if len(p) < 16 {
		return Op{}, malformed("%v: %d bytes", t, len(p))
	}
	o := Op{Type: t, Addr: le.Uint64(p)}
	switch t {
	case TypeRead:
		o.Len = le.Uint32(p[8:])
		if o.Len == 0 || o.Len > MaxData {
			return Op{}, malformed("read of %d bytes", o.Len)
		}
	case TypeWrite:
		o.Len = le.Uint32(p[8:])
		if o.Len == 0 || o.Len > MaxData || uint64(o.Len) != uint64(len(p)-16) {
			return Op{}, malformed("write of %d bytes with %d", o.Len, len(p)-16)
		}
		o.Data = p[16:]
	case TypeCAS32:
		o.Old, o.New = le.Uint32(p[8:]), le.Uint32(p[12:])
	case TypeWake:
		o.N = int32(le.Uint32(p[8:]))
		if o.N < 0 {
			return Op{}, malformed("wake of %d", o.N)
		}
	default:
		return Op{}, malformed("%v is not a memory operation", t)
	}
	return o, nil
}

// AppendError appends e as a message.
func AppendError(b []byte, e ErrorMsg) []byte {
	s := len(b)
	b = begin(b, TypeError)
	b = u32(b, uint32(e.Code))
	b = u32(b, 0)
	text := e.Text
	if max := MaxMessage - HeaderSize - 8; len(text) > max {
		text = text[:max]
	}
	b = append(b, text...)
	return finish(b, s)
}

// DecodeError decodes an Error body.
func DecodeError(p []byte) (ErrorMsg, error) {
	if len(p) < 8 {
		return ErrorMsg{}, malformed("error: %d bytes", len(p))
	}
	return ErrorMsg{Code: int32(le.Uint32(p)), Text: string(p[8:])}, nil
}

// AppendStatsReply appends counters as a message.
func AppendStatsReply(b []byte, counters []int64) []byte {
	s := len(b)
	b = begin(b, TypeStatsReply)
	b = u32(b, uint32(len(counters)))
	b = u32(b, 0)
	for _, c := range counters {
		b = u64(b, uint64(c))
	}
	return finish(b, s)
}

// DecodeStatsReply decodes a StatsReply body.
func DecodeStatsReply(p []byte) ([]int64, error) {
	if len(p) < 8 {
		return nil, malformed("stats-reply: %d bytes", len(p))
	}
	n := le.Uint32(p)
	if uint64(n)*8 != uint64(len(p)-8) {
		return nil, malformed("stats-reply: %d counters in %d bytes", n, len(p)-8)
	}
	c := make([]int64, n)
	for i := range c {
		c[i] = int64(le.Uint64(p[8+8*i:]))
	}
	return c, nil
}

// MaxStatusChunk is the largest status document chunk of one StatusReply.
const MaxStatusChunk = MaxMessage - HeaderSize - 8

// AppendStatusReply appends one chunk (at most MaxStatusChunk bytes) of
// a status document; more says another chunk follows.
func AppendStatusReply(b []byte, chunk []byte, more bool) []byte {
	s := len(b)
	b = begin(b, TypeStatusReply)
	m := uint32(0)
	if more {
		m = 1
	}
	b = u32(b, m)
	b = u32(b, 0)
	if len(chunk) > MaxStatusChunk {
		chunk = chunk[:MaxStatusChunk]
	}
	b = append(b, chunk...)
	return finish(b, s)
}

// DecodeStatusReply decodes a StatusReply body; chunk aliases p.
func DecodeStatusReply(p []byte) (chunk []byte, more bool, err error) {
	if len(p) < 8 {
		return nil, false, malformed("status-reply: %d bytes", len(p))
	}
	m := le.Uint32(p)
	if m > 1 {
		return nil, false, malformed("status-reply: more %d", m)
	}
	return p[8:], m == 1, nil
}
