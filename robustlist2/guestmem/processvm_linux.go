package guestmem

import (
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cachePage is the unit of the Process page cache. It divides every Linux
// page size, so one cache page is either all mapped or all unmapped.
const cachePage = 4096

// remote checks that [addr, addr+n) is expressible as a host address.
func remote(op string, addr uint64, n int) error {
	if uint64(n) > math.MaxUint64-addr || addr+uint64(n)-1 > uint64(^uintptr(0)) {
		return accessErr(op, addr, n, ErrOutside)
	}
	return nil
}

// vmErr classifies an error of process_vm_readv/writev.
func vmErr(op string, addr uint64, n int, call string, err error) error {
	switch err {
	case unix.ESRCH:
		return accessErr(op, addr, n, fmt.Errorf("%w: %s: %v", ErrExited, call, err))
	case unix.EFAULT:
		return accessErr(op, addr, n, fmt.Errorf("%w: %s: %v", ErrFault, call, err))
	}
	return accessErr(op, addr, n, fmt.Errorf("%s: %w", call, err))
}

// readDirect reads len(b) bytes at addr from the process, uncached. A
// partial read is ErrFault.
func (p *Process) readDirect(op string, addr uint64, b []byte) error {
	if err := remote(op, addr, len(b)); err != nil {
		return err
	}
	local := []unix.Iovec{{Base: unsafe.SliceData(b)}}
	local[0].SetLen(len(b))
	rem := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMReadv(p.pid, local, rem, 0)
	if err != nil {
		return vmErr(op, addr, len(b), "process_vm_readv", err)
	}
	if n != len(b) {
		return accessErr(op, addr, len(b), fmt.Errorf("%w: partial read (%d of %d bytes)", ErrFault, n, len(b)))
	}
	return nil
}

// writeDirect writes b at addr in the process, uncached. A partial write
// is ErrFault. The kernel honours the target's protection.
func (p *Process) writeDirect(op string, addr uint64, b []byte) error {
	if err := remote(op, addr, len(b)); err != nil {
		return err
	}
	local := []unix.Iovec{{Base: unsafe.SliceData(b)}}
	local[0].SetLen(len(b))
	rem := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMWritev(p.pid, local, rem, 0)
	if err != nil {
		return vmErr(op, addr, len(b), "process_vm_writev", err)
	}
	if n != len(b) {
		return accessErr(op, addr, len(b), fmt.Errorf("%w: partial write (%d of %d bytes)", ErrFault, n, len(b)))
	}
	return nil
}

// readCached fills b from the page cache, reading missing pages whole.
func (p *Process) readCached(op string, addr uint64, b []byte) error {
	if err := remote(op, addr, len(b)); err != nil {
		return err
	}
	for done := 0; done < len(b); {
		a := addr + uint64(done)
		pn := a / cachePage
		pg := p.pages[pn]
		if pg == nil {
			pg = new([cachePage]byte)
			if err := p.readDirect(op, pn*cachePage, pg[:]); err != nil {
				return accessErr(op, addr, len(b), unwrapAccess(err))
			}
			if p.pages == nil {
				p.pages = make(map[uint64]*[cachePage]byte)
			}
			p.pages[pn] = pg
		}
		done += copy(b[done:], pg[a%cachePage:])
	}
	return nil
}

// patchCache brings the cached pages over [addr, addr+len(b)) up to date
// after b was written there.
func (p *Process) patchCache(addr uint64, b []byte) {
	for done := 0; done < len(b); {
		a := addr + uint64(done)
		pg := p.pages[a/cachePage]
		n := min(len(b)-done, int(cachePage-a%cachePage))
		if pg != nil {
			copy(pg[a%cachePage:], b[done:done+n])
		}
		done += n
	}
}

// dropCache forgets the cached pages over [addr, addr+n).
func (p *Process) dropCache(addr uint64, n int) {
	for pn := addr / cachePage; pn <= (addr+uint64(n)-1)/cachePage; pn++ {
		delete(p.pages, pn)
	}
}

// unwrapAccess returns the cause of an *AccessError, so that an error for
// a whole page can be reported for the caller's access instead.
func unwrapAccess(err error) error {
	if ae, ok := err.(*AccessError); ok {
		return ae.Err
	}
	return err
}
