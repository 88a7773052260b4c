package guestmem

import (
	"runtime/debug"
)

// WalkSession is a view of an InProcess memory for one walk on one
// goroutine, made for speed: it turns memory faults into panics once for
// the whole session instead of at every access, guards only the first
// access to each page, and then reads and compare-and-swaps pages it has
// seen work directly. Range checks stay on every access, so a hostile list
// still cannot reach outside the guest.
//
// The price is one race: if another thread unmaps or protects a page
// after the session saw it work, a later access to it panics with the
// runtime's fault error (a runtime.Error with an Addr method) instead of
// returning ErrFault. The caller must recover it; robustlist2's Walker
// does, and reports the fault.
//
// A WalkSession is not safe for concurrent use, and must be used only on
// the goroutine that made it, until End.
type WalkSession struct {
	m    *InProcess
	prev bool
	// lo and hi bound the guest range of the last access, so that most
	// accesses check their range with two comparisons.
	lo, hi  uint64
	readOK  [sessionSlots]uintptr // page+1 of pages seen readable
	writeOK [sessionSlots]uintptr // page+1 of pages seen writable
	end     func()
}

const (
	sessionSlots = 64
	pageShift    = 12
	pageSize     = 1 << pageShift
)

// Session starts a walk session on the calling goroutine. Sessions are
// recycled: do not use one after End.
func (m *InProcess) Session() *WalkSession {
	s, _ := m.sessions.Get().(*WalkSession)
	if s == nil {
		s = &WalkSession{m: m}
		s.end = s.End
	}
	s.prev = debug.SetPanicOnFault(true)
	return s
}

// End restores the goroutine's fault setting and recycles the session.
func (s *WalkSession) End() {
	debug.SetPanicOnFault(s.prev)
	s.lo, s.hi = 0, 0
	s.readOK, s.writeOK = [sessionSlots]uintptr{}, [sessionSlots]uintptr{}
	s.m.sessions.Put(s)
}

// WalkSession is robustlist2's session hook (robustlist2.Walker uses it
// for every walk over an InProcess memory): it returns a session, as a
// robustlist2.Memory, and its End.
func (m *InProcess) WalkSession() (mem any, end func()) {
	s := m.Session()
	return s, s.end
}

// host returns the host address of addr and whether [addr, addr+size)
// is inside the guest, checking the last range first (inlined).
func (s *WalkSession) host(addr, size uint64) (uintptr, bool) {
	if addr-s.lo < s.hi-s.lo && size <= s.hi-addr {
		return uintptr(addr + s.m.base), true
	}
	return s.hostSlow(addr, size)
}

// hostSlow is host for an address outside the last range.
func (s *WalkSession) hostSlow(addr, size uint64) (uintptr, bool) {
	if r, ok := s.m.set.lookup(addr, size); ok {
		s.lo, s.hi = r.Start, r.End
		return uintptr(addr + s.m.base), true
	}
	return 0, false
}

// onePage reports whether [u, u+size) lies in one page, and its page+1.
func onePage(u uintptr, size uintptr) (uintptr, bool) {
	return u>>pageShift + 1, u&(pageSize-1) <= pageSize-size
}

func (s *WalkSession) knownRead(p uintptr) bool  { return s.readOK[p%sessionSlots] == p }
func (s *WalkSession) knownWrite(p uintptr) bool { return s.writeOK[p%sessionSlots] == p }

// Load32 reads the 32-bit little-endian word at addr.
func (s *WalkSession) Load32(addr uint64) (uint32, error) {
	u, ok := s.host(addr, 4)
	if ok {
		if p, one := onePage(u, 4); one && s.knownRead(p) {
			return load32(u), nil
		}
	}
	v, err := s.m.Load32(addr)
	if err == nil {
		if p, one := onePage(u, 4); one {
			s.readOK[p%sessionSlots] = p
		}
	}
	return v, err
}

// Load64 reads the 64-bit little-endian word at addr.
func (s *WalkSession) Load64(addr uint64) (uint64, error) {
	u, ok := s.host(addr, 8)
	if ok {
		if p, one := onePage(u, 8); one && s.knownRead(p) {
			return load64(u), nil
		}
	}
	v, err := s.m.Load64(addr)
	if err == nil {
		if p, one := onePage(u, 8); one {
			s.readOK[p%sessionSlots] = p
		}
	}
	return v, err
}

// Store32 writes the 32-bit word at addr (always guarded: walks do not
// store, only syscalls do).
func (s *WalkSession) Store32(addr uint64, v uint32) error { return s.m.Store32(addr, v) }

// Store64 writes the 64-bit word at addr (always guarded).
func (s *WalkSession) Store64(addr uint64, v uint64) error { return s.m.Store64(addr, v) }

// CompareAndSwap32 is InProcess.CompareAndSwap32, direct on pages the
// session has already swapped on.
func (s *WalkSession) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	u, ok := s.host(addr, 4)
	if ok && addr&3 == 0 {
		if p := u>>pageShift + 1; s.knownWrite(p) {
			return cas32(hostPtr(u), old, new), nil
		}
	}
	prev, err := s.m.CompareAndSwap32(addr, old, new)
	if err == nil && ok {
		p := u>>pageShift + 1
		s.writeOK[p%sessionSlots] = p
		s.readOK[p%sessionSlots] = p
	}
	return prev, err
}
