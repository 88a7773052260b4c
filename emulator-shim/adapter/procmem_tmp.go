//go:build linux && amd64

package adapter

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TEMPORARY until robustlist2/guestmem lands.
type rawProcMem struct{ pid int }

func newProcMem(tid int32) procMemory { return &rawProcMem{pid: int(tid)} }

func (m *rawProcMem) read(addr uint64, b []byte) error {
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMReadv(m.pid, local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("short read")
	}
	return nil
}

func (m *rawProcMem) write(addr uint64, b []byte) error {
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMWritev(m.pid, local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("short write")
	}
	return nil
}

func (m *rawProcMem) Load32(addr uint64) (uint32, error) {
	var b [4]byte
	err := m.read(addr, b[:])
	return binary.LittleEndian.Uint32(b[:]), err
}
func (m *rawProcMem) Load64(addr uint64) (uint64, error) {
	var b [8]byte
	err := m.read(addr, b[:])
	return binary.LittleEndian.Uint64(b[:]), err
}
func (m *rawProcMem) Store32(addr uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return m.write(addr, b[:])
}
func (m *rawProcMem) Store64(addr uint64, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return m.write(addr, b[:])
}
func (m *rawProcMem) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	cur, err := m.Load32(addr)
	if err != nil || cur != old {
		return cur, err
	}
	return cur, m.Store32(addr, new)
}
func (m *rawProcMem) Shared(addr uint64) bool { return false }

var _ = unsafe.Sizeof(0)
