package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	deaths := []Death{{TID: 7, Mode: 32, IP: 0x8048000, TP: 0xf7f00000, Flags: 0x246, Regs: [16]uint64{1, 2, 3, 4, 5}}}
	tests := []struct {
		name   string
		msg    []byte
		typ    Type
		decode func([]byte) (any, error)
		want   any
	}{
		{"hello", AppendHello(nil, Hello{Version: 1, Flags: HelloFlagAfterFork, PID: 42, ForkedFrom: 41, GuestBits: 32, GuestBase: 0x1000, Program: "./guest"}),
			TypeHello, func(b []byte) (any, error) { return DecodeHello(b) },
			Hello{Version: 1, Flags: HelloFlagAfterFork, PID: 42, ForkedFrom: 41, GuestBits: 32, GuestBase: 0x1000, Program: "./guest"}},
		{"hello-ok", AppendHelloOK(nil, HelloOK{Version: 1, Filters: []Filter{{ABIBits: 32, Nr: 311}, {ABIBits: 64, Nr: 202, Arg: 1, Mask: 0x600}}}),
			TypeHelloOK, func(b []byte) (any, error) { return DecodeHelloOK(b) },
			HelloOK{Version: 1, Filters: []Filter{{ABIBits: 32, Nr: 311}, {ABIBits: 64, Nr: 202, Arg: 1, Mask: 0x600}}}},
		{"task-created", AppendTaskCreated(nil, TaskCreated{Parent: 1, Child: 2, ChildTGID: 1, CloneFlags: 0x3d0f00}),
			TypeTaskCreated, func(b []byte) (any, error) { return DecodeTaskCreated(b) },
			TaskCreated{Parent: 1, Child: 2, ChildTGID: 1, CloneFlags: 0x3d0f00}},
		{"syscall", AppendSyscall(nil, Syscall{TID: 9, ABIBits: 64, Nr: 273, Args: [6]uint64{0x7fff0000, 24}}),
			TypeSyscall, func(b []byte) (any, error) { return DecodeSyscall(b) },
			Syscall{TID: 9, ABIBits: 64, Nr: 273, Args: [6]uint64{0x7fff0000, 24}}},
		{"process-exit", AppendExit(nil, TypeProcessExit, Exit{TID: 7, Sig: 11, Deaths: deaths}),
			TypeProcessExit, func(b []byte) (any, error) { return DecodeExit(TypeProcessExit, b) },
			Exit{TID: 7, Sig: 11, Deaths: deaths}},
		{"thread-exit", AppendExit(nil, TypeThreadExit, Exit{TID: 7, Cause: CauseSignal, Deaths: []Death{}}),
			TypeThreadExit, func(b []byte) (any, error) { return DecodeExit(TypeThreadExit, b) },
			Exit{TID: 7, Cause: CauseSignal, Deaths: []Death{}}},
		{"exec-failed", AppendExecFailed(nil, ExecFailed{TID: 3, Err: 2}),
			TypeExecFailed, func(b []byte) (any, error) { return DecodeExecFailed(b) }, ExecFailed{TID: 3, Err: 2}},
		{"op-reply", AppendOpReply(nil, OpReply{Value: 5, Data: []byte{1, 2, 3}}),
			TypeOpReply, func(b []byte) (any, error) { return DecodeOpReply(b) }, OpReply{Value: 5, Data: []byte{1, 2, 3}}},
		{"result", AppendResult(nil, Result{Handled: true, Ret: -22}),
			TypeResult, func(b []byte) (any, error) { return DecodeResult(b) }, Result{Handled: true, Ret: -22}},
		{"done", AppendDone(nil, Done{1, 2, 3, 4, 5, 6}),
			TypeDone, func(b []byte) (any, error) { return DecodeDone(b) }, Done{1, 2, 3, 4, 5, 6}},
		{"cas", AppendOp(nil, Op{Type: TypeCAS32, Addr: 0x1000, Old: 5, New: 0x40000000}),
			TypeCAS32, func(b []byte) (any, error) { return DecodeOp(TypeCAS32, b) }, Op{Type: TypeCAS32, Addr: 0x1000, Old: 5, New: 0x40000000}},
		{"write", AppendOp(nil, Op{Type: TypeWrite, Addr: 0x1000, Data: []byte{9, 8, 7, 6}}),
			TypeWrite, func(b []byte) (any, error) { return DecodeOp(TypeWrite, b) }, Op{Type: TypeWrite, Addr: 0x1000, Len: 4, Data: []byte{9, 8, 7, 6}}},
		{"error", AppendError(nil, ErrorMsg{Code: -71, Text: "no"}),
			TypeError, func(b []byte) (any, error) { return DecodeError(b) }, ErrorMsg{Code: -71, Text: "no"}},
		{"stats", AppendStatsReply(nil, []int64{1, -2, 3}),
			TypeStatsReply, func(b []byte) (any, error) { return DecodeStatsReply(b) }, []int64{1, -2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, body, err := Header(tc.msg)
			if err != nil || typ != tc.typ {
				t.Fatalf("Header: %v %v, want %v", typ, err, tc.typ)
			}
			got, err := tc.decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			// Every truncation is an error, never a panic.
			for n := 0; n < len(tc.msg); n++ {
				if typ, body, err := Header(tc.msg[:n]); err == nil {
					t.Fatalf("Header accepted %d of %d bytes (%v %d)", n, len(tc.msg), typ, len(body))
				}
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"short header", func() error { _, _, err := Header([]byte{1, 2}); return err }()},
		{"size mismatch", func() error { _, _, err := Header([]byte{9, 0, 0, 0, 1, 0, 0, 0}); return err }()},
		{"filters overflow", func() error {
			_, err := DecodeHelloOK([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 24, 0, 0, 0})
			return err
		}()},
		{"deaths overflow", func() error {
			_, err := DecodeExit(TypeExec, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 160, 0, 0, 0})
			return err
		}()},
		{"read of 0", func() error { _, err := DecodeOp(TypeRead, make([]byte, 16)); return err }()},
		{"negative wake", func() error {
			_, err := DecodeOp(TypeWake, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
			return err
		}()},
		{"not an op", func() error { _, err := DecodeOp(TypeHello, make([]byte, 16)); return err }()},
		{"handled 2", func() error {
			_, err := DecodeResult([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
			return err
		}()},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, tc.err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder: errors are fine,
// panics are not, and what decodes re-encodes to a message that decodes
// the same.
func FuzzDecode(f *testing.F) {
	f.Add(AppendHello(nil, Hello{Version: 1, PID: 1, Program: "x"}))
	f.Add(AppendExit(nil, TypeExec, Exit{TID: 1, Deaths: []Death{{TID: 1}}}))
	f.Add(AppendSyscall(nil, Syscall{TID: 1, ABIBits: 32, Nr: 311}))
	f.Add(AppendOpReply(nil, OpReply{Data: []byte{1}}))
	f.Add(AppendHelloOK(nil, HelloOK{Version: 1, Filters: []Filter{{ABIBits: 32, Nr: 311}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, body, err := Header(b)
		if err != nil {
			return
		}
		switch typ {
		case TypeHello:
			if h, err := DecodeHello(body); err == nil {
				if h2, err := DecodeHello(AppendHello(nil, h)[HeaderSize:]); err != nil || !reflect.DeepEqual(h, h2) {
					t.Fatalf("hello %+v re-decoded as %+v, %v", h, h2, err)
				}
			}
		case TypeHelloOK:
			_, _ = DecodeHelloOK(body)
		case TypeTaskCreated:
			_, _ = DecodeTaskCreated(body)
		case TypeSyscall:
			if c, err := DecodeSyscall(body); err == nil {
				if c2, _ := DecodeSyscall(AppendSyscall(nil, c)[HeaderSize:]); c2 != c {
					t.Fatalf("syscall %+v re-decoded as %+v", c, c2)
				}
			}
		case TypeThreadExit, TypeProcessExit, TypeExec:
			if e, err := DecodeExit(typ, body); err == nil {
				if e2, err := DecodeExit(typ, AppendExit(nil, typ, e)[HeaderSize:]); err != nil || !reflect.DeepEqual(e, e2) {
					t.Fatalf("exit %+v re-decoded as %+v, %v", e, e2, err)
				}
			}
		case TypeExecFailed:
			_, _ = DecodeExecFailed(body)
		case TypeStatus:
			_, _ = DecodeStatus(body)
		case TypeOpReply:
			_, _ = DecodeOpReply(body)
		case TypeResult:
			_, _ = DecodeResult(body)
		case TypeDone:
			_, _ = DecodeDone(body)
		case TypeRead, TypeWrite, TypeCAS32, TypeWake:
			_, _ = DecodeOp(typ, body)
		case TypeError:
			_, _ = DecodeError(body)
		case TypeStatsReply:
			_, _ = DecodeStatsReply(body)
		case TypeStatusReply:
			_, _, _ = DecodeStatusReply(body)
		}
	})
}
