//go:build linux && cgo

package cclient

import (
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/protocol"
)

// goAccepts decodes b with package protocol as a server message.
func goAccepts(b []byte) bool {
	t, body, err := protocol.Header(b)
	if err != nil {
		return false
	}
	switch t {
	case protocol.TypeHelloOK:
		h, err := protocol.DecodeHelloOK(body)
		return err == nil && len(h.Filters) <= 64
	case protocol.TypeResult:
		_, err = protocol.DecodeResult(body)
	case protocol.TypeDone:
		_, err = protocol.DecodeDone(body)
	case protocol.TypeRead, protocol.TypeWrite, protocol.TypeCAS32, protocol.TypeWake:
		_, err = protocol.DecodeOp(t, body)
	case protocol.TypeError:
		_, err = protocol.DecodeError(body)
	case protocol.TypeStatsReply:
		_, err = protocol.DecodeStatsReply(body)
	default:
		return false
	}
	return err == nil
}

func TestParseAgrees(t *testing.T) {
	msgs := [][]byte{
		protocol.AppendHelloOK(nil, protocol.HelloOK{Version: 1, Filters: []protocol.Filter{{ABIBits: 32, Nr: 311}}}),
		protocol.AppendResult(nil, protocol.Result{Handled: true, Ret: -22}),
		protocol.AppendDone(nil, protocol.Done{Lists: 1}),
		protocol.AppendOp(nil, protocol.Op{Type: protocol.TypeRead, Addr: 8, Len: 4}),
		protocol.AppendOp(nil, protocol.Op{Type: protocol.TypeWrite, Addr: 8, Data: []byte{1, 2}}),
		protocol.AppendOp(nil, protocol.Op{Type: protocol.TypeCAS32, Addr: 8, Old: 1, New: 2}),
		protocol.AppendOp(nil, protocol.Op{Type: protocol.TypeWake, Addr: 8, N: 1}),
		protocol.AppendError(nil, protocol.ErrorMsg{Code: -71, Text: "x"}),
		protocol.AppendStatsReply(nil, []int64{1, 2}),
		protocol.AppendHello(nil, protocol.Hello{Version: 1, PID: 1}), // a client message: the client rejects it
	}
	for _, m := range msgs {
		typ, _, _, ok := Parse(m)
		if ok != goAccepts(m) {
			t.Errorf("type %d: C accepts %v, Go %v", typ, ok, goAccepts(m))
		}
		for n := 0; n < len(m); n++ {
			if _, _, _, ok := Parse(m[:n]); ok {
				t.Errorf("C accepted %d of %d bytes of type %d", n, len(m), typ)
			}
		}
	}
	if _, n, ret, ok := Parse(msgs[1]); !ok || n != 0 || ret != -22 {
		t.Errorf("result: ok %v ret %d", ok, ret)
	}
	if _, n, _, ok := Parse(msgs[0]); !ok || n != 1 {
		t.Errorf("hello-ok: ok %v filters %d", ok, n)
	}
}

// FuzzParse: the C decoder never crashes or reads past the message, and
// accepts exactly what the Go decoder accepts.
func FuzzParse(f *testing.F) {
	f.Add(protocol.AppendHelloOK(nil, protocol.HelloOK{Version: 1, Filters: []protocol.Filter{{ABIBits: 32, Nr: 311}}}))
	f.Add(protocol.AppendOp(nil, protocol.Op{Type: protocol.TypeWrite, Addr: 8, Data: []byte{1, 2}}))
	f.Add(protocol.AppendStatsReply(nil, []int64{1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, _, _, ok := Parse(b)
		if ok != goAccepts(b) {
			t.Fatalf("type %d (%d bytes): C accepts %v, Go %v", typ, len(b), ok, goAccepts(b))
		}
	})
}
