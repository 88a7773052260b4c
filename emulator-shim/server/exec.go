package server

import (
	"go.uber.org/zap"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/emulator-shim/protocol"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// preparedExec is an exec announced by a client (fexrl_client_exec): the
// lists of every thread of the process read before the exec, as a
// snapshot of the memory the walks read, and fexrl's own mappings of the
// shared objects behind the futex words they would write. The kernel
// walks at exec only past exec's point of no return, so nothing is
// written until the exec is known to have succeeded (commitExec); a
// failed exec drops it (release).
//
// After a successful exec the process's private memory is gone, so only
// the words in shared mappings (the ones other processes wait on) can
// still be written, through fexrl's mappings; a private word's walk is
// carried out on the snapshot, where the dead image would have had it.
type preparedExec struct {
	tid     int32
	deaths  []protocol.Death
	snap    *snapshot
	proc    *guestmem.Process // nil if the process could not be opened
	shared  map[uint64]bool   // guest addresses of futex words in shared mappings
	threads []int32           // the other threads, killed by the exec
}

// snapshot is guest memory copied through the client while a thread
// waited in it: reads hit the copy; chunks never read fault.
type snapshot struct {
	chunks map[uint64]*[chunkSize]byte
	// words are the futex words a walk compare-and-swapped.
	words map[uint64]bool
	// live, while preparing, reads what the snapshot lacks.
	live *clientMem
}

func (m *snapshot) read(op string, addr uint64, b []byte) error {
	for i := 0; i < len(b); {
		a := addr + uint64(i)
		base := a &^ (chunkSize - 1)
		ch, ok := m.chunks[base]
		if !ok && m.live != nil {
			var tmp [chunkSize]byte
			if err := m.live.read(op, base, tmp[:]); err == nil {
				ch = &tmp
				m.chunks[base] = ch
			} else {
				// Part of the chunk only: copy what was asked for.
				if err := m.live.read(op, addr, b); err != nil {
					return err
				}
				m.fill(addr, b)
				return nil
			}
		}
		if ch == nil {
			return &guestmem.AccessError{Op: op, Addr: addr, Size: len(b), Err: guestmem.ErrFault}
		}
		n := copy(b[i:], ch[a-base:])
		i += n
	}
	return nil
}

// fill records bytes read directly into their (new) chunks, byte by byte
// where a chunk did not exist; only bytes read are valid, so this is used
// for exact reads only, and such chunks are not reused for other bytes.
func (m *snapshot) fill(addr uint64, b []byte) {
	for i := range b {
		a := addr + uint64(i)
		base := a &^ (chunkSize - 1)
		ch, ok := m.chunks[base]
		if !ok {
			ch = new([chunkSize]byte)
			m.chunks[base] = ch
		}
		if ch != nil {
			ch[a-base] = b[i]
		}
	}
}

func (m *snapshot) Load32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := m.read("load32", addr, b[:]); err != nil {
		return 0, err
	}
	return le32(b[:]), nil
}

func (m *snapshot) Load64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := m.read("load64", addr, b[:]); err != nil {
		return 0, err
	}
	return uint64(le32(b[:])) | uint64(le32(b[4:]))<<32, nil
}

func (m *snapshot) put(addr uint64, v uint64, n int) {
	for i := 0; i < n; i++ {
		a := addr + uint64(i)
		if ch := m.chunks[a&^(chunkSize-1)]; ch != nil {
			ch[a&(chunkSize-1)] = byte(v >> (8 * i))
		}
	}
}

func (m *snapshot) Store32(addr uint64, v uint32) error {
	if _, err := m.Load32(addr); err != nil {
		return err
	}
	m.put(addr, uint64(v), 4)
	return nil
}

func (m *snapshot) Store64(addr uint64, v uint64) error {
	if _, err := m.Load64(addr); err != nil {
		return err
	}
	m.put(addr, v, 8)
	return nil
}

// CompareAndSwap32 swaps in the snapshot and notes the word.
func (m *snapshot) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, &guestmem.AccessError{Op: "cas32", Addr: addr, Size: 4, Err: guestmem.ErrMisaligned}
	}
	prev, err := m.Load32(addr)
	if err != nil {
		return 0, err
	}
	if m.words == nil {
		m.words = map[uint64]bool{}
	}
	m.words[addr] = true
	if prev == old {
		m.put(addr, uint64(new), 4)
	}
	return prev, nil
}

// Wake wakes nobody: a dry run, or private memory that is gone.
func (m *snapshot) Wake(addr uint64, n int) (int, error) { return 0, nil }

// ReadCode reads code for the unlock-window analysis.
func (m *snapshot) ReadCode(addr uint64, b []byte) (int, error) {
	n := 0
	for n+4 <= len(b) {
		if err := m.read("read", addr+uint64(n), b[n:n+4]); err != nil {
			if n == 0 {
				return 0, err
			}
			return n, nil
		}
		n += 4
	}
	return n, nil
}

// committed is the memory of a committed exec: the snapshot, with the
// futex words in shared mappings reached live through fexrl's own
// mappings of their objects (real atomics and shared wakes, seen by
// every process that maps them).
type committed struct {
	*snapshot
	x     *preparedExec
	base  uint64
	waker *guestmem.ProcessWaker
}

func (m *committed) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if m.x.shared[addr] {
		return m.x.proc.CompareAndSwap32(addr+m.base, old, new)
	}
	return m.snapshot.CompareAndSwap32(addr, old, new)
}

func (m *committed) Load32(addr uint64) (uint32, error) {
	if m.x.shared[addr] {
		return m.x.proc.Load32(addr + m.base)
	}
	return m.snapshot.Load32(addr)
}

func (m *committed) Wake(addr uint64, n int) (int, error) {
	if m.x.shared[addr] {
		return m.waker.Wake(addr+m.base, n)
	}
	return 0, nil
}

// captureEnv is the environment of one committed walk, captured when the
// server records memory.
func (s *Server) captureEnv(m *committed) (*shim.Env, *guestmem.Capture) {
	if !s.cfg.CaptureMemory {
		return &shim.Env{Memory: m, Waker: m}, nil
	}
	c := guestmem.NewCapture(m)
	return &shim.Env{Memory: c, Waker: m}, c
}

// prepareExec reads, through the client, everything the exec's walks
// will read.
func (s *Server) prepareExec(p *process, c *conn, e protocol.Exit) {
	x := &preparedExec{tid: e.TID, deaths: e.Deaths, snap: &snapshot{chunks: map[uint64]*[chunkSize]byte{}, live: &c.mem}}
	x.threads = s.threadsOf(p.pid, e.TID)
	if n := len(x.threads); n > 0 && x.threads[n-1] == e.TID {
		x.threads = x.threads[:n-1]
	}
	reg := s.shim.Registry()
	dry := func(tid int32, st *translator.DeathState) {
		t, ok := reg.Lookup(tid)
		if !ok {
			return
		}
		for _, l := range t.Lists() {
			if l.Backend != robustlist2.BackendWalk {
				continue
			}
			if st != nil {
				translator.UnlockWindow(x.snap, *st, l.Head, l.Bits.PtrSize())
			}
			reg.Walk(x.snap, x.snap, l.Head, l.Bits, uint32(tid), s.cfg.Shim.Walk)
		}
	}
	for _, tid := range x.threads {
		dry(tid, deathFor(e.Deaths, tid))
	}
	dry(e.TID, nil)
	x.snap.live = nil
	// The words were swapped in the copy; read them again from the
	// client so the commit starts from the image as it was.
	for w := range x.snap.words {
		var b [4]byte
		if err := c.mem.read("load32", w, b[:]); err == nil {
			x.snap.put(w, uint64(le32(b[:])), 4)
		}
	}
	if len(x.snap.words) > 0 {
		proc, err := guestmem.NewProcess(int(p.pid))
		if err != nil {
			s.log.Warn("exec: cannot open the emulator's memory; shared futex words will not be written after the exec",
				zap.Int32("pid", p.pid), zap.Error(err))
		} else {
			x.proc = proc
			x.shared = map[uint64]bool{}
			for w := range x.snap.words {
				if proc.Shared(w + p.guestBase) {
					x.shared[w] = true
				}
			}
		}
	}
	s.mu.Lock()
	if p.exec != nil {
		p.exec.release()
	}
	p.exec = x
	s.mu.Unlock()
	s.log.Debug("exec prepared", zap.Int32("pid", p.pid), zap.Int32("tid", e.TID), zap.Int("threads", len(x.threads)),
		zap.Int("words", len(x.snap.words)), zap.Int("shared", len(x.shared)))
}

func (x *preparedExec) release() {
	if x.proc != nil {
		_ = x.proc.Close()
		x.proc = nil
	}
}

// takeExec removes p's prepared exec, if any, for one caller to commit.
func (s *Server) takeExec(p *process) *preparedExec {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := p.exec
	p.exec = nil
	return x
}

// commitExec carries out p's announced exec, which has succeeded: the
// other threads die as the kernel's de_thread kills them, then the
// exec'ing thread's lists are walked and cleared, and it takes the pid.
func (s *Server) commitExec(p *process) {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	x := s.takeExec(p)
	if x == nil {
		return
	}
	defer x.release()
	m := &committed{snapshot: x.snap, x: x, base: p.guestBase}
	if x.proc != nil {
		m.waker = guestmem.NewProcessWaker(x.proc, nil)
	}
	for _, tid := range x.threads {
		env, capt := s.captureEnv(m)
		st := deathFor(x.deaths, tid)
		walks := s.shim.TaskExited(tid, shim.Death{Cause: shim.CauseSignal, State: st, Code: x.snap}, env)
		s.taskEvent("exit", tid, p.pid, shim.CauseSignal, walks, capt, st)
	}
	env, capt := s.captureEnv(m)
	walks := s.shim.TaskExec(x.tid, env)
	if s.cfg.OnTask != nil {
		ev := TaskEvent{Kind: "exec", TID: p.pid, TGID: p.pid, Cause: shim.CauseExec, Walks: walks}
		if x.tid != p.pid {
			ev.Former = x.tid
		}
		if capt != nil {
			ev.Memory = capt.Words()
		}
		s.cfg.OnTask(ev)
	}
	if x.tid != p.pid {
		s.shim.Forget(x.tid)
		s.shim.Forget(p.pid)
		s.shim.TaskStarted(p.pid, p.pid)
	}
	p.execs++
	s.log.Debug("exec committed", zap.Int32("pid", p.pid), zap.Int32("tid", x.tid))
}
