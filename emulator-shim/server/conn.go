package server

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/emulator-shim/protocol"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// conn is one client connection: one emulator process, served by one
// goroutine through Go's poller.
type conn struct {
	fd  int
	f   *os.File
	rc  syscall.RawConn
	in  []byte
	out []byte
	// broken is set when the peer sent something that is not the
	// protocol; the connection is closed after the request.
	broken error
	// mem is the guest memory of the request being served.
	mem clientMem
}

func newConn(fd int) *conn {
	c := &conn{fd: fd, in: make([]byte, protocol.MaxMessage+1), out: make([]byte, 0, 4096)}
	c.mem.c = c
	if err := unix.SetNonblock(fd, true); err == nil {
		c.f = os.NewFile(uintptr(fd), "fexrl-client")
		if rc, err := c.f.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	return c
}

// spinFor is how long recv polls before it parks in the poller.
const spinFor = 30 * time.Microsecond

// errClosed is the peer's orderly close.
var errClosed = errors.New("connection closed")

// recv reads one message.
func (c *conn) recv() (protocol.Type, []byte, error) {
	var until time.Time
	for spins := 0; ; spins++ {
		var n, flags int
		var err error
		if spins == 0 {
			until = time.Now().Add(spinFor)
		}
		if !until.IsZero() {
			// Poll first: the client's next message usually follows at
			// once (an operation's answer, the next call of a thread's
			// life), and a wake-up through the poller costs tens of
			// microseconds on some virtual machines.
			n, _, flags, _, err = unix.Recvmsg(c.fd, c.in, nil, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
			if err == unix.EAGAIN {
				if time.Now().After(until) {
					until = time.Time{}
				}
				continue
			}
		} else if c.rc != nil {
			rerr := c.rc.Read(func(fd uintptr) bool {
				n, _, flags, _, err = unix.Recvmsg(int(fd), c.in, nil, unix.MSG_TRUNC)
				return err != unix.EAGAIN
			})
			if err == nil && rerr != nil {
				err = rerr
			}
		} else {
			n, _, flags, _, err = unix.Recvmsg(c.fd, c.in, nil, unix.MSG_TRUNC)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("recv: %w", err)
		}
		if n == 0 {
			return 0, nil, errClosed
		}
		if flags&unix.MSG_TRUNC != 0 || n > protocol.MaxMessage {
			return 0, nil, fmt.Errorf("%w: message of %d bytes or more", protocol.ErrMalformed, n)
		}
		return protocol.Header(c.in[:n])
	}
}

// send writes c.out as one message.
func (c *conn) send() error {
	for {
		var err error
		if c.rc != nil {
			werr := c.rc.Write(func(fd uintptr) bool {
				_, err = unix.SendmsgN(int(fd), c.out, nil, nil, unix.MSG_NOSIGNAL)
				return err != unix.EAGAIN
			})
			if err == nil && werr != nil {
				err = werr
			}
		} else {
			_, err = unix.SendmsgN(c.fd, c.out, nil, nil, unix.MSG_NOSIGNAL)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
}

// shutdown wakes the goroutine blocked in recv.
func (c *conn) shutdown() { _ = unix.Shutdown(c.fd, unix.SHUT_RDWR) }

func (c *conn) close() {
	if c.f != nil {
		_ = c.f.Close()
		return
	}
	_ = unix.Close(c.fd)
}

// chunkSize is the unit of the per-request read cache: a robust list's
// head fields, and a mutex's list node with its futex word, usually lie
// in one.
const chunkSize = 256

// clientMem is the guest memory of one emulator process, reached through
// the thread blocked in the client for the current request: every access
// is a memory operation the client performs and answers. Reads are cached
// for the request in chunkSize pieces (a thread blocked in the client
// does not change its own list, and a compare-and-swap always goes to the
// client); every write updates the cache. It is a robustlist2.Memory and
// a robustlist2.Waker, used only on the connection's goroutine.
type clientMem struct {
	c     *conn
	cache map[uint64]*[chunkSize]byte
	ops   int
}

// reset empties the cache for a new request.
func (m *clientMem) reset() { clear(m.cache) }

// rpc sends op and returns the client's reply.
func (m *clientMem) rpc(o protocol.Op) (protocol.OpReply, error) {
	c := m.c
	if c.broken != nil {
		return protocol.OpReply{}, c.broken
	}
	m.ops++
	c.out = protocol.AppendOp(c.out[:0], o)
	if err := c.send(); err != nil {
		c.broken = err
		return protocol.OpReply{}, err
	}
	t, body, err := c.recv()
	if err == nil && t != protocol.TypeOpReply {
		err = fmt.Errorf("%w: %v while a %v was outstanding", protocol.ErrMalformed, t, o.Type)
	}
	var r protocol.OpReply
	if err == nil {
		r, err = protocol.DecodeOpReply(body)
	}
	if err == nil && o.Type == protocol.TypeRead && r.Err == 0 && uint32(len(r.Data)) != o.Len {
		err = fmt.Errorf("%w: read of %d bytes answered with %d", protocol.ErrMalformed, o.Len, len(r.Data))
	}
	if err != nil {
		c.broken = err
		return protocol.OpReply{}, err
	}
	return r, nil
}

// opErr turns a client's errno into guestmem's error for the access.
func opErr(op string, addr uint64, size int, errno int32) error {
	var cause error
	switch unix.Errno(errno) {
	case unix.EFAULT:
		cause = fmt.Errorf("%w: the emulator says it is not guest memory", guestmem.ErrFault)
	case unix.EINVAL:
		cause = guestmem.ErrMisaligned
	default:
		cause = fmt.Errorf("%w: %v", guestmem.ErrFault, unix.Errno(errno))
	}
	return &guestmem.AccessError{Op: op, Addr: addr, Size: size, Err: cause}
}

func brokenErr(op string, addr uint64, size int, err error) error {
	return &guestmem.AccessError{Op: op, Addr: addr, Size: size, Err: fmt.Errorf("%w: client unreachable: %v", guestmem.ErrFault, err)}
}

// read fills b from guest address addr.
func (m *clientMem) read(op string, addr uint64, b []byte) error {
	n := uint64(len(b))
	base := addr &^ (chunkSize - 1)
	if addr+n-1 >= addr && (addr+n-1)&^(chunkSize-1) == base {
		if ch, ok := m.cache[base]; ok && ch != nil {
			copy(b, ch[addr-base:])
			return nil
		} else if !ok {
			r, err := m.rpc(protocol.Op{Type: protocol.TypeRead, Addr: base, Len: chunkSize})
			if err != nil {
				return brokenErr(op, addr, len(b), err)
			}
			if m.cache == nil {
				m.cache = make(map[uint64]*[chunkSize]byte)
			}
			if r.Err == 0 {
				ch := new([chunkSize]byte)
				copy(ch[:], r.Data)
				m.cache[base] = ch
				copy(b, ch[addr-base:])
				return nil
			}
			m.cache[base] = nil // only part of the chunk is guest memory
		}
	}
	r, err := m.rpc(protocol.Op{Type: protocol.TypeRead, Addr: addr, Len: uint32(n)})
	if err != nil {
		return brokenErr(op, addr, len(b), err)
	}
	if r.Err != 0 {
		return opErr(op, addr, len(b), r.Err)
	}
	copy(b, r.Data)
	return nil
}

// patch puts bytes the client wrote into the cache.
func (m *clientMem) patch(addr uint64, b []byte) {
	for i := range b {
		a := addr + uint64(i)
		if ch := m.cache[a&^(chunkSize-1)]; ch != nil {
			ch[a&(chunkSize-1)] = b[i]
		}
	}
}

// Load32 reads a 32-bit word.
func (m *clientMem) Load32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := m.read("load32", addr, b[:]); err != nil {
		return 0, err
	}
	return le32(b[:]), nil
}

// Load64 reads a 64-bit word.
func (m *clientMem) Load64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := m.read("load64", addr, b[:]); err != nil {
		return 0, err
	}
	return uint64(le32(b[:])) | uint64(le32(b[4:]))<<32, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (m *clientMem) write(op string, addr uint64, b []byte) error {
	r, err := m.rpc(protocol.Op{Type: protocol.TypeWrite, Addr: addr, Data: b})
	if err != nil {
		return brokenErr(op, addr, len(b), err)
	}
	if r.Err != 0 {
		return opErr(op, addr, len(b), r.Err)
	}
	m.patch(addr, b)
	return nil
}

// Store32 writes a 32-bit word.
func (m *clientMem) Store32(addr uint64, v uint32) error {
	return m.write("store32", addr, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
}

// Store64 writes a 64-bit word.
func (m *clientMem) Store64(addr uint64, v uint64) error {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return m.write("store64", addr, b[:])
}

// CompareAndSwap32 has the client compare-and-swap the word atomically.
func (m *clientMem) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, &guestmem.AccessError{Op: "cas32", Addr: addr, Size: 4, Err: guestmem.ErrMisaligned}
	}
	r, err := m.rpc(protocol.Op{Type: protocol.TypeCAS32, Addr: addr, Old: old, New: new})
	if err != nil {
		return 0, brokenErr("cas32", addr, 4, err)
	}
	if r.Err != 0 {
		return 0, opErr("cas32", addr, 4, r.Err)
	}
	prev := uint32(r.Value)
	v := prev
	if prev == old {
		v = new
	}
	m.patch(addr, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
	return prev, nil
}

// Wake has the client wake n waiters on the word (a shared FUTEX_WAKE).
func (m *clientMem) Wake(addr uint64, n int) (int, error) {
	if n < 0 || n > 1<<30 {
		return 0, &guestmem.AccessError{Op: "wake", Addr: addr, Size: 4, Err: guestmem.ErrInvalid}
	}
	if n == 0 {
		return 0, nil
	}
	r, err := m.rpc(protocol.Op{Type: protocol.TypeWake, Addr: addr, N: int32(n)})
	if err != nil {
		return 0, brokenErr("wake", addr, 4, err)
	}
	if r.Err != 0 {
		return 0, opErr("wake", addr, 4, r.Err)
	}
	if r.Value > uint64(n) {
		c := m.c
		c.broken = fmt.Errorf("%w: woke %d of at most %d", protocol.ErrMalformed, r.Value, n)
		return 0, brokenErr("wake", addr, 4, c.broken)
	}
	return int(r.Value), nil
}
