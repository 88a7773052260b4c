package guestmem

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync"
)

// Process is the memory of another process, as the ptrace adapter sees
// its guest. Private memory is read with process_vm_readv through a page
// cache and written with process_vm_writev (writes go through and update
// the cache). Memory in a MAP_SHARED mapping of the target is reached
// through fexrl's own mapping of the same object (see Shared), live and
// uncached.
//
// The page cache lives for one walk: call Reset before each walk, so that
// it starts from the target's current memory; a write by the target made
// after a page was cached is not seen until then. Reset also forgets the
// snapshot of /proc/<pid>/maps; fexrl's mappings of shared objects are
// kept across walks while the target still maps the same object at the
// same place, and released by Close.
//
// CompareAndSwap32 on private memory is read-compare-write: it is atomic
// only while every thread of the target (and of any process sharing its
// memory through CLONE_VM) is stopped, as the adapter ensures before
// writing. On a word in a MAP_SHARED mapping it is a real atomic
// compare-and-swap on fexrl's mapping, safe while other processes that
// map the object run, traced or not.
//
// A Process is safe for concurrent use; every method fails with
// ErrExited once the target is gone (shared words already mapped stay
// reachable until Reset), and with ErrClosed after Close.
type Process struct {
	pid int

	mu     sync.Mutex
	closed bool
	maps   []vma                       // snapshot of /proc/<pid>/maps; nil: read on demand
	objs   map[vmaKey]*objMap          // fexrl's mappings of shared objects
	pages  map[uint64]*[cachePage]byte // private pages read during this walk
}

// NewProcess returns the memory of process pid (any thread id of it).
func NewProcess(pid int) (*Process, error) {
	if err := checkHostEndian(); err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, fmt.Errorf("guestmem: pid %d: %w", pid, ErrInvalid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("guestmem: %w: %v", ErrExited, err)
	}
	return &Process{pid: pid}, nil
}

// Pid returns the process (thread) id the memory is read through.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// SetPid makes the memory be read through thread pid from now on, which
// must share the address space of the thread it was read through (a
// thread that exits stops giving access to it first: a thread group's
// leader may have released the memory while other threads still use it).
// The page cache, the mappings snapshot and fexrl's mappings of shared
// objects stay valid.
func (p *Process) SetPid(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pid = pid
}

// Reset starts a new walk: it empties the page cache and forgets the
// snapshot of the target's mappings.
func (p *Process) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages = nil
	p.maps = nil
}

// ResetCache starts a new walk that trusts the mappings seen so far: it
// empties the page cache but keeps the snapshot of the target's mappings
// (an address the snapshot does not know still makes it read them
// again). Reads stay correct either way; call Reset before writes that
// must know whether a word is shared now.
func (p *Process) ResetCache() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages = nil
}

// Close releases fexrl's mappings of the target's shared objects. Later
// calls fail with ErrClosed. Close is idempotent.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, o := range p.objs {
		o.unmap()
	}
	p.objs, p.maps, p.pages = nil, nil, nil
	return nil
}

// Shared reports whether the 32-bit word at addr lies in a MAP_SHARED
// mapping of the target that fexrl reaches through its own mapping of the
// same object, where CompareAndSwap32 and ProcessWaker.Wake are atomic
// without stopping anyone.
func (p *Process) Shared(addr uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, err := p.locate(opLoad32, addr, 4)
	return err == nil && pl.kind == placeShared
}

// placeKind says how an access reaches the target's memory.
type placeKind uint8

const (
	placeUnmapped    placeKind = iota // no mapping: fault
	placePrivate                      // private: page cache, process_vm_*
	placeShared                       // inside one shared vma: our mapping
	placeUnreachable                  // shared, but we could not map it: process_vm_*, no atomic CAS
	placeStraddle                     // crosses vmas, one shared: process_vm_*, uncached
)

type place struct {
	kind placeKind
	obj  *objMap // placeShared
	err  error   // placeUnreachable: why
}

// locate finds how to reach [addr, addr+size); p.mu is held. The maps
// snapshot is read on first use and again when an address is not in it.
func (p *Process) locate(op string, addr uint64, size int) (place, error) {
	if p.closed {
		return place{}, accessErr(op, addr, size, ErrClosed)
	}
	if uint64(size) > math.MaxUint64-addr {
		return place{}, accessErr(op, addr, size, ErrOutside)
	}
	fresh := false
	if p.maps == nil {
		if err := p.reload(); err != nil {
			return place{}, accessErr(op, addr, size, err)
		}
		fresh = true
	}
	for {
		i := findVMA(p.maps, addr)
		if i < 0 {
			if fresh {
				return place{kind: placeUnmapped}, nil
			}
			if err := p.reload(); err != nil {
				return place{}, accessErr(op, addr, size, err)
			}
			fresh = true
			continue
		}
		v := &p.maps[i]
		if last := addr + uint64(size) - 1; last >= v.end {
			if j := findVMA(p.maps, last); v.shared() || j >= 0 && p.maps[j].shared() {
				return place{kind: placeStraddle}, nil
			}
			return place{kind: placePrivate}, nil
		}
		if !v.shared() {
			return place{kind: placePrivate}, nil
		}
		if v.obj == nil {
			o, err := mapShared(p.pid, v)
			if err != nil {
				// The vma is gone: the snapshot is stale, or the target is.
				if !fresh {
					if err := p.reload(); err != nil {
						return place{}, accessErr(op, addr, size, err)
					}
					fresh = true
					continue
				}
				return place{kind: placeUnreachable, err: err}, nil
			}
			v.obj = o
			if p.objs == nil {
				p.objs = make(map[vmaKey]*objMap)
			}
			p.objs[v.key()] = o
		}
		if v.obj.err != nil {
			return place{kind: placeUnreachable, err: v.obj.err}, nil
		}
		return place{kind: placeShared, obj: v.obj}, nil
	}
}

// reload reads the maps snapshot again, keeping fexrl's mappings of the
// objects still mapped at the same place and releasing the others; p.mu
// is held.
func (p *Process) reload() error {
	vs, err := readMaps(p.pid)
	if err != nil {
		return err
	}
	kept := make(map[vmaKey]*objMap)
	for i := range vs {
		if !vs[i].shared() {
			continue
		}
		k := vs[i].key()
		if o := p.objs[k]; o != nil {
			vs[i].obj = o
			kept[k] = o
		}
	}
	for k, o := range p.objs {
		if kept[k] == nil {
			o.unmap()
		}
	}
	p.maps, p.objs = vs, kept
	return nil
}

// unmappedErr is the error for an access to no mapping.
func unmappedErr(op string, addr uint64, size int) error {
	return accessErr(op, addr, size, fmt.Errorf("%w: not mapped", ErrFault))
}

// load reads the size-byte (4 or 8) little-endian word at addr.
func (p *Process) load(op string, addr uint64, size int) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, err := p.locate(op, addr, size)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	switch pl.kind {
	case placeUnmapped:
		return 0, unmappedErr(op, addr, size)
	case placeShared:
		var v uint64
		if size == 4 {
			var v32 uint32
			v32, err = hostLoad32(pl.obj.hostAddr(addr))
			v = uint64(v32)
		} else {
			v, err = hostLoad64(pl.obj.hostAddr(addr))
		}
		if err != nil {
			return 0, accessErr(op, addr, size, err)
		}
		return v, nil
	case placePrivate:
		err = p.readCached(op, addr, b[:size])
	default:
		err = p.readDirect(op, addr, b[:size])
	}
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// store writes the size-byte (4 or 8) little-endian word v at addr.
func (p *Process) store(op string, addr uint64, size int, v uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, err := p.locate(op, addr, size)
	if err != nil {
		return err
	}
	switch pl.kind {
	case placeUnmapped:
		return unmappedErr(op, addr, size)
	case placeShared:
		u := pl.obj.hostAddr(addr)
		if size == 4 {
			err = hostStore32(u, uint32(v))
		} else {
			err = hostStore64(u, v)
		}
		if err != nil {
			return accessErr(op, addr, size, err)
		}
		return nil
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if err := p.writeDirect(op, addr, b[:size]); err != nil {
		p.dropCache(addr, size)
		return err
	}
	p.patchCache(addr, b[:size])
	return nil
}

// Load32 reads the 32-bit little-endian word at addr.
func (p *Process) Load32(addr uint64) (uint32, error) {
	v, err := p.load(opLoad32, addr, 4)
	return uint32(v), err
}

// Load64 reads the 64-bit little-endian word at addr.
func (p *Process) Load64(addr uint64) (uint64, error) {
	return p.load(opLoad64, addr, 8)
}

// Store32 writes the 32-bit little-endian word v at addr.
func (p *Process) Store32(addr uint64, v uint32) error {
	return p.store(opStore32, addr, 4, uint64(v))
}

// Store64 writes the 64-bit little-endian word v at addr.
func (p *Process) Store64(addr uint64, v uint64) error {
	return p.store(opStore64, addr, 8, v)
}

// CompareAndSwap32 replaces the 32-bit word at addr with new if it holds
// old, and returns the value it held before (the swap happened iff
// prev == old). addr must be 4-byte aligned. The word is read live, not
// from the cache. In a shared mapping this is a real atomic
// compare-and-swap; in private memory it is read-compare-write, atomic
// only while the target's threads are stopped. A shared word fexrl cannot
// map (a device mapping, say) fails rather than be updated non-atomically.
func (p *Process) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, accessErr(opCAS32, addr, 4, ErrMisaligned)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, err := p.locate(opCAS32, addr, 4)
	if err != nil {
		return 0, err
	}
	switch pl.kind {
	case placeUnmapped:
		return 0, unmappedErr(opCAS32, addr, 4)
	case placeShared:
		prev, err := hostCAS32(pl.obj.hostAddr(addr), old, new)
		if err != nil {
			return 0, accessErr(opCAS32, addr, 4, err)
		}
		return prev, nil
	case placeUnreachable:
		return 0, accessErr(opCAS32, addr, 4,
			fmt.Errorf("%w: shared word has no atomic path: %w", ErrFault, pl.err))
	}
	var b [4]byte
	if err := p.readDirect(opCAS32, addr, b[:]); err != nil {
		return 0, err
	}
	p.patchCache(addr, b[:])
	cur := binary.LittleEndian.Uint32(b[:])
	if cur != old {
		return cur, nil
	}
	binary.LittleEndian.PutUint32(b[:], new)
	if err := p.writeDirect(opCAS32, addr, b[:]); err != nil {
		p.dropCache(addr, 4)
		return 0, err
	}
	p.patchCache(addr, b[:])
	return cur, nil
}
