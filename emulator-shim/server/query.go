package server

import (
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/emulator-shim/protocol"
)

// QueryStatus asks the server listening on addr for its Status.
func QueryStatus(addr string) (Status, error) {
	var st Status
	sa, err := sockaddr(addr)
	if err != nil {
		return st, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("socket: %w", err)
	}
	c := newConn(fd)
	defer c.close()
	if err := unix.Connect(fd, sa); err != nil {
		return st, fmt.Errorf("no fexrl server at %s: %w", addr, err)
	}
	c.out = protocol.AppendStatus(c.out[:0], protocol.StatusFlagJSON)
	if err := c.send(); err != nil {
		return st, err
	}
	var doc []byte
	for {
		t, body, err := c.recv()
		if err != nil {
			return st, fmt.Errorf("fexrl server at %s: %w", addr, err)
		}
		if t == protocol.TypeError {
			e, err := protocol.DecodeError(body)
			if err != nil {
				return st, err
			}
			return st, fmt.Errorf("fexrl server at %s refused: %s", addr, e.Text)
		}
		if t != protocol.TypeStatusReply {
			return st, fmt.Errorf("fexrl server at %s: %w: %v in answer to status", addr, protocol.ErrMalformed, t)
		}
		chunk, more, err := protocol.DecodeStatusReply(body)
		if err != nil {
			return st, err
		}
		doc = append(doc, chunk...)
		if !more {
			break
		}
	}
	if err := json.Unmarshal(doc, &st); err != nil {
		return st, fmt.Errorf("fexrl server at %s: bad status document: %w", addr, err)
	}
	return st, nil
}
