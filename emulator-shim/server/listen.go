package server

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Listener is the server's SOCK_SEQPACKET Unix socket.
type Listener struct {
	fd   int
	addr string
	once sync.Once
}

// Listen listens on addr: a filesystem path (created; removed by Close),
// or @name for Linux's abstract namespace.
func Listen(addr string) (*Listener, error) {
	sa, err := sockaddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fexrl server: socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fexrl server: bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fexrl server: listen %s: %w", addr, err)
	}
	return &Listener{fd: fd, addr: addr}, nil
}

func sockaddr(addr string) (*unix.SockaddrUnix, error) {
	if addr == "" || addr == "@" {
		return nil, fmt.Errorf("fexrl server: empty socket address")
	}
	if len(addr) >= 108 {
		return nil, fmt.Errorf("fexrl server: socket address %q is longer than 107 bytes", addr)
	}
	return &unix.SockaddrUnix{Name: addr}, nil
}

// Addr returns the address as given to Listen.
func (l *Listener) Addr() string { return l.addr }

func (l *Listener) accept() (int, error) {
	for {
		fd, _, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("fexrl server: accept: %w", err)
		}
		return fd, nil
	}
}

// shutdown makes a blocked accept return.
func (l *Listener) shutdown() { _ = unix.Shutdown(l.fd, unix.SHUT_RDWR) }

// Close stops listening and removes a filesystem socket.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.shutdown()
		unix.Close(l.fd)
		if !strings.HasPrefix(l.addr, "@") {
			os.Remove(l.addr)
		}
	})
	return nil
}
