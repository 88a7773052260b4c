// Package server is fexrl beside the emulator: one Go process per
// emulated process tree that every emulator process of the tree connects
// to with the C client (emulator-shim/client). It holds the tree's shim
// (translator and robustlist2 inside, the same semantics as in process),
// answers the guest's robust-list syscalls and walks a dying task's lists,
// reaching the guest's memory through the client: while a dying thread
// waits in the client, the client compare-and-swaps futex words and wakes
// waiters for the server, atomically in the emulator's own address space.
//
// A Go runtime cannot live inside an emulator that forks (the guest's
// fork is a host fork of the whole emulator, and Go cannot run in a child
// forked without exec), which is why the server is a process of its own,
// as FEX-Emu's FEXServer is.
//
// Locks: Server.mu guards the process table (procs, conns, seen); it is
// never held while a connection waits for its client. The shim has its
// own locks. Each connection's state (conn, its clientMem) belongs to the
// one goroutine serving it.
package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/emulator-shim/protocol"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
	"github.com/fexrl/fexrl/translator"
)

// Config configures a Server.
type Config struct {
	// Logger receives structured logs; nil means none.
	Logger *zap.Logger
	// Shim configures the tree's shim. Memory and Waker are ignored: each
	// process's memory is reached through its client.
	Shim shim.Config
	// OnSyscall, if set, hears every syscall a client offered, with the
	// answer; OnTask every task start, clone, exit and exec (an exit or
	// exec once its walks are done, with them). They are called on the
	// goroutine serving the task's process (the guard's for a death it
	// walks) and must not block.
	OnSyscall func(SyscallEvent)
	OnTask    func(TaskEvent)
	// CaptureMemory records in each exit and exec event the guest memory
	// its walks read, as it was before anything was written (for traces).
	CaptureMemory bool
}

// SyscallEvent is one guest syscall a client offered.
type SyscallEvent struct {
	TID     int32
	ABI     string // x86_32 or x86_64
	Nr      int
	Args    [6]uint64
	Handled bool
	Ret     int64
}

// TaskEvent is a guest task's start, clone, exit or exec.
type TaskEvent struct {
	// Kind is "start", "clone", "exit" or "exec".
	Kind      string
	TID, TGID int32
	Parent    int32
	ABI       string
	Flags     uint64
	Cause     shim.Cause
	Walks     []robustlist2.ListWalk
	Memory    []guestmem.CapturedWord
	Former    int32
	// Mode (32 or 64), IP, TP and Regs are a death's registers, for a
	// death the task did not ask for (a signal, exit_group); Mode is 0
	// when they are unknown.
	Mode   int
	IP, TP uint64
	Regs   *translator.Regs
}

// Server serves one emulated process tree.
type Server struct {
	log  *zap.Logger
	shim *shim.Shim
	cfg  Config

	start time.Time

	mu    sync.Mutex
	procs map[int32]*process // by pid
	conns map[*conn]struct{}
	seen  map[int32]struct{} // every pid that connected
	// idle is signalled whenever the number of connections drops to 0.
	idle chan struct{}
	// guarded: the guard traces the tree (StartGuarded).
	guarded bool

	guardWalks atomic.Int64
	// backend says who walks the tree's lists, and why.
	backend string
	// filters is the table sent to every client.
	filters []protocol.Filter
}

// process is one emulator process of the tree.
type process struct {
	pid, forkedFrom int32
	program         string
	guestBits       uint32
	guestBase       uint64
	conn            *conn // nil once it closed
	connected       time.Time
	exec            *preparedExec // an announced exec; guarded by Server.mu
	execs           int
	// commitMu is held while an exec is committed, so that the new
	// image's first message waits for the old image's walks.
	commitMu sync.Mutex
}

// New returns a server with no processes.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	sc := cfg.Shim
	sc.Memory, sc.Waker = nil, nil
	if sc.Logger == nil {
		sc.Logger = log
	}
	srv := &Server{
		log: log, cfg: cfg, shim: shim.New(sc), start: time.Now(),
		procs: map[int32]*process{}, conns: map[*conn]struct{}{}, seen: map[int32]struct{}{},
		idle: make(chan struct{}, 1),
	}
	srv.backend = backendReason(probeHost())
	srv.filters = srv.Filters()
	log.Info("fexrl server", zap.String("backend", srv.backend))
	return srv
}

// probeHost probes the host kernel on one thread.
func probeHost() robustlist2.HostCaps {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return robustlist2.ProbeHost(nil)
}

// backendReason says who walks the tree's lists: the server, always. The
// lists belong to the emulator's threads, and a task's robust lists can
// be registered with the host kernel only by the task itself, so the
// host's set_robust_list2 or set_robust_list could serve a guest list only
// if the client made the call on the guest's thread; this server does not
// ask for that, and never hands a list to a host that cannot parse it.
func backendReason(c robustlist2.HostCaps) string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "ENOSYS"
	}
	return fmt.Sprintf("fexrl-walk: the server walks every guest list at the thread's death (host %s: set_robust_list2 %s, set_robust_list %s; "+
		"the lists belong to the emulator's threads, which only they can register with the host kernel)",
		runtime.GOARCH, yes(c.RobustList2), yes(c.Legacy))
}

// Shim returns the tree's shim (for reports and tests).
func (s *Server) Shim() *shim.Shim { return s.shim }

// Filters returns the syscalls a client offers to this server: the
// robust-list syscalls of the i386 and x86-64 ABIs.
func (s *Server) Filters() []protocol.Filter {
	var fs []protocol.Filter
	for _, a := range []abi.Arch{x86_32.Arch(), x86_64.Arch()} {
		for _, n := range a.Syscalls.Named() {
			if n.Nr == abi.NoSyscall || !translator.Classify(a, n.Nr).RobustList() {
				continue
			}
			k := translator.Classify(a, n.Nr)
			if s.cfg.Shim.NoRobustList2 && (k == translator.KindSetRobustList2 || k == translator.KindGetRobustList2) {
				continue // the emulator's own ENOSYS is the answer
			}
			// Every call waits for its answer: a list registered must be
			// known to the server before the thread goes on, or another
			// process's get_robust_list, or the guard at a SIGKILL, could
			// miss it.
			fs = append(fs, protocol.Filter{ABIBits: uint32(a.Bits), Nr: uint32(n.Nr)})
		}
	}
	return fs
}

// Serve accepts connections on ln until ctx is done, and serves each on
// its own goroutine. It closes ln and every connection before it returns.
func (s *Server) Serve(ctx context.Context, ln *Listener) error {
	stop := context.AfterFunc(ctx, ln.shutdown)
	defer stop()
	var wg sync.WaitGroup
	defer func() {
		s.mu.Lock()
		for c := range s.conns {
			c.shutdown()
		}
		s.mu.Unlock()
		wg.Wait()
		ln.Close()
	}()
	for {
		fd, err := ln.accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		c := newConn(fd)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(c)
		}()
	}
}

// ServeTree is Serve for a server started for one tree by the client
// (FEXRL_CLIENT_AUTOSTART): it also returns once no connection is open
// and none of the processes that connected, nor root, is alive.
func (s *Server) ServeTree(ctx context.Context, ln *Listener, root int32) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return
				case <-s.idle:
				}
			}
			// Linger while a process of the tree lives: an exec'd image
			// or a forked child may still connect.
			for s.connections() == 0 {
				if !s.treeAlive(root) {
					s.log.Info("the process tree has ended; the server stops")
					cancel()
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}()
	return s.Serve(ctx, ln)
}

func (s *Server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) treeAlive(root int32) bool {
	s.mu.Lock()
	pids := make([]int32, 0, len(s.seen)+1)
	for p := range s.seen {
		pids = append(pids, p)
	}
	s.mu.Unlock()
	if root > 0 {
		pids = append(pids, root)
	}
	for _, p := range pids {
		if unix.Kill(int(p), 0) != unix.ESRCH && !zombie(p) {
			return true
		}
	}
	return false
}

// zombie reports whether pid has ended but not been reaped.
func zombie(pid int32) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] == 'Z'
		}
	}
	return false
}

// serveConn serves one connection until it closes.
func (s *Server) serveConn(c *conn) {
	var p *process
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.conns, c)
		n := len(s.conns)
		s.mu.Unlock()
		if p != nil {
			s.closed(p, c)
		}
		if n == 0 {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
	}()
	for {
		t, body, err := c.recv()
		if err != nil {
			if !errors.Is(err, errClosed) {
				s.log.Warn("client connection failed", zap.Error(err), zap.Int32("pid", pidOf(p)))
			}
			return
		}
		if p == nil && (t == protocol.TypeStatus || t == protocol.TypeStats) {
			// A tool asking, not an emulator process: no hello needed.
			if err := s.handle(nil, c, t, body); err != nil {
				s.log.Warn("status request failed", zap.Error(err))
				return
			}
			continue
		}
		if p == nil {
			if p, err = s.hello(c, t, body); err != nil {
				s.log.Warn("client refused", zap.Error(err))
				return
			}
			continue
		}
		c.mem.reset()
		if err := s.handle(p, c, t, body); err != nil {
			s.log.Warn("client connection dropped", zap.Int32("pid", p.pid), zap.Error(err))
			return
		}
		if c.broken != nil {
			s.log.Warn("client connection dropped", zap.Int32("pid", p.pid), zap.Error(c.broken))
			return
		}
	}
}

func pidOf(p *process) int32 {
	if p == nil {
		return 0
	}
	return p.pid
}

// refuse answers with an Error message.
func (c *conn) refuse(code unix.Errno, format string, a ...any) error {
	text := fmt.Sprintf(format, a...)
	c.out = protocol.AppendError(c.out[:0], protocol.ErrorMsg{Code: -int32(code), Text: text})
	_ = c.send()
	return errors.New(text)
}

// hello takes the client's first message.
func (s *Server) hello(c *conn, t protocol.Type, body []byte) (*process, error) {
	if t != protocol.TypeHello {
		return nil, c.refuse(unix.EPROTO, "fexrl server: the first message must be hello, not %v", t)
	}
	h, err := protocol.DecodeHello(body)
	if err != nil {
		return nil, c.refuse(unix.EPROTO, "fexrl server: %v", err)
	}
	if h.Version != protocol.Version {
		return nil, c.refuse(unix.EPROTONOSUPPORT, "fexrl server speaks protocol version %d, the client %d: use a client and server of one fexrl release",
			protocol.Version, h.Version)
	}
	if h.PID <= 0 {
		return nil, c.refuse(unix.EINVAL, "fexrl server: hello with pid %d", h.PID)
	}
	var cred *unix.Ucred
	if cred, err = unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil && cred.Pid != h.PID {
		return nil, c.refuse(unix.EINVAL, "fexrl server: hello says pid %d, the socket's peer is pid %d", h.PID, cred.Pid)
	}
	p := &process{pid: h.PID, forkedFrom: h.ForkedFrom, program: h.Program, guestBits: h.GuestBits,
		guestBase: h.GuestBase, conn: c, connected: time.Now()}
	s.mu.Lock()
	old := s.procs[h.PID]
	s.procs[h.PID] = p
	s.seen[h.PID] = struct{}{}
	s.mu.Unlock()
	if old != nil {
		// The new image of an exec commits the old image's walks, or
		// waits until the old connection's close has.
		s.commitExec(old)
		p.execs = old.execs
	}
	if _, ok := s.shim.Registry().Lookup(h.PID); !ok || h.ForkedFrom != 0 {
		// A forked child starts with no list, as in the kernel.
		s.shim.TaskStarted(h.PID, h.PID)
		if s.cfg.OnTask != nil {
			ev := TaskEvent{Kind: "start", TID: h.PID, TGID: h.PID, ABI: bitsABI(h.GuestBits)}
			if h.ForkedFrom != 0 {
				ev.Kind, ev.Parent, ev.Flags = "clone", h.ForkedFrom, uint64(unix.SIGCHLD)
			}
			s.cfg.OnTask(ev)
		}
	}
	c.out = protocol.AppendHelloOK(c.out[:0], protocol.HelloOK{Version: protocol.Version, Filters: s.filters})
	if err := c.send(); err != nil {
		return nil, err
	}
	s.log.Debug("client connected", zap.Int32("pid", h.PID), zap.Int32("forked_from", h.ForkedFrom),
		zap.String("program", h.Program), zap.Uint64("guest_base", h.GuestBase))
	return p, nil
}

// closed handles the end of p's connection: an announced exec succeeded
// (the close-on-exec socket closed without a failure), or the process is
// gone and its remaining tasks with it.
func (s *Server) closed(p *process, c *conn) {
	s.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	cur := s.procs[p.pid]
	pending := p.exec != nil
	s.mu.Unlock()
	if pending {
		s.commitExec(p)
		return
	}
	if cur != p {
		return // a new image took the pid over
	}
	var left []int32
	for _, t := range s.shim.Registry().Tasks() {
		if t.TGID() == p.pid {
			left = append(left, t.TID())
		}
	}
	for _, tid := range left {
		if t, ok := s.shim.Registry().Lookup(tid); ok && len(t.Lists()) > 0 {
			s.log.Warn("emulator process ended without reporting a thread's death: its lists were not walked",
				zap.Int32("pid", p.pid), zap.Int32("tid", tid))
		}
		s.shim.Forget(tid)
	}
	s.mu.Lock()
	if s.procs[p.pid] == p {
		delete(s.procs, p.pid)
	}
	s.mu.Unlock()
}

// handle serves one request of p.
func (s *Server) handle(p *process, c *conn, t protocol.Type, body []byte) error {
	env := &shim.Env{Memory: &c.mem, Waker: &c.mem}
	switch t {
	case protocol.TypeTaskCreated:
		tc, err := protocol.DecodeTaskCreated(body)
		if err != nil {
			return err
		}
		if tc.Child <= 0 || tc.ChildTGID <= 0 {
			return fmt.Errorf("%w: task-created child %d tgid %d", protocol.ErrMalformed, tc.Child, tc.ChildTGID)
		}
		s.shim.TaskCreated(tc.Parent, tc.Child, tc.ChildTGID)
		if s.cfg.OnTask != nil {
			s.cfg.OnTask(TaskEvent{Kind: "clone", TID: tc.Child, TGID: tc.ChildTGID, Parent: tc.Parent,
				ABI: bitsABI(p.guestBits), Flags: tc.CloneFlags})
		}
		return nil
	case protocol.TypeSyscall:
		sc, err := protocol.DecodeSyscall(body)
		if err != nil {
			return err
		}
		var a abi.Arch
		switch sc.ABIBits {
		case 32:
			a = x86_32.Arch()
		case 64:
			a = x86_64.Arch()
		default:
			c.out = protocol.AppendResult(c.out[:0], protocol.Result{})
			return c.send()
		}
		call := translator.Call{ABI: a, Nr: int(sc.Nr), Args: sc.Args}
		if int64(call.Nr) != sc.Nr {
			call.Nr = -1
		}
		var res translator.Result
		var handled bool
		if r, ok := s.notAGuest(call, &c.mem); ok {
			res, handled = r, true
		} else {
			res, handled = s.shim.Syscall(sc.TID, call, env)
		}
		if c.broken != nil {
			return nil
		}
		if s.cfg.OnSyscall != nil {
			s.cfg.OnSyscall(SyscallEvent{TID: sc.TID, ABI: a.Name, Nr: call.Nr, Args: sc.Args, Handled: handled, Ret: int64(res)})
		}
		c.out = protocol.AppendResult(c.out[:0], protocol.Result{Handled: handled, Ret: int64(res)})
		return c.send()
	case protocol.TypeThreadExit:
		e, err := protocol.DecodeExit(t, body)
		if err != nil {
			return err
		}
		cause := shim.CauseExit
		switch e.Cause {
		case protocol.CauseExit:
		case protocol.CauseExitGroup:
			cause = shim.CauseExitGroup
		case protocol.CauseSignal:
			cause = shim.CauseSignal
		default:
			return fmt.Errorf("%w: thread-exit cause %d", protocol.ErrMalformed, e.Cause)
		}
		var d protocol.Done
		s.exit(e.TID, cause, deathFor(e.Deaths, e.TID), env, &d)
		return s.done(c, d)
	case protocol.TypeProcessExit:
		e, err := protocol.DecodeExit(t, body)
		if err != nil {
			return err
		}
		cause := shim.CauseExitGroup
		if e.Sig != 0 {
			cause = shim.CauseSignal
		}
		var d protocol.Done
		for _, tid := range s.threadsOf(p.pid, e.TID) {
			s.exit(tid, cause, deathFor(e.Deaths, tid), env, &d)
		}
		return s.done(c, d)
	case protocol.TypeExec:
		e, err := protocol.DecodeExit(t, body)
		if err != nil {
			return err
		}
		s.prepareExec(p, c, e)
		return s.done(c, protocol.Done{})
	case protocol.TypeExecFailed:
		f, err := protocol.DecodeExecFailed(body)
		if err != nil {
			return err
		}
		if x := s.takeExec(p); x != nil {
			s.log.Info("exec failed: nothing prepared is written", zap.Int32("tid", f.TID), zap.String("errno", unix.Errno(f.Err).Error()))
			x.release()
		}
		return nil
	case protocol.TypeStats:
		c.out = protocol.AppendStatsReply(c.out[:0], statsCounters(s.shim.Stats()))
		return c.send()
	case protocol.TypeStatus:
		flags, err := protocol.DecodeStatus(body)
		if err != nil {
			return err
		}
		return s.sendStatus(c, flags)
	}
	return fmt.Errorf("%w: unexpected %v", protocol.ErrMalformed, t)
}

// notAGuest answers get_robust_list(pid) for a pid that is no guest task
// of the tree, as the guest's kernel would: through the host kernel,
// which knows every process of the machine (a zombie guest, whose list it
// shows as NULL; another program). The host's list is in the host's
// layout, so only a 64-bit guest on an x86-64 host is told its head; a
// 32-bit guest reads the task's compat list, which a 64-bit host process
// does not have.
func (s *Server) notAGuest(call translator.Call, mem *clientMem) (translator.Result, bool) {
	if call.Kind() != translator.KindGetRobustList || call.Args[0] == 0 {
		return 0, false
	}
	pid := int32(call.Args[0])
	if uint64(uint32(pid)) != call.Args[0]&0xffffffff || pid < 0 {
		return 0, false // the shim's own errors apply
	}
	if _, ok := s.shim.Registry().Lookup(pid); ok {
		return 0, false
	}
	var head, size uint64
	_, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(pid), uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return translator.Result(-int64(e)), true
	}
	bits := call.ABI.Bits
	if bits == abi.Bits32 || runtime.GOARCH != "amd64" {
		head = 0
	}
	var err error
	if bits == abi.Bits32 {
		if err = mem.Store32(call.Args[2], uint32(bits.Head().Size)); err == nil {
			err = mem.Store32(call.Args[1], uint32(head))
		}
	} else if err = mem.Store64(call.Args[2], bits.Head().Size); err == nil {
		err = mem.Store64(call.Args[1], head)
	}
	if err != nil {
		return translator.Result(-int64(unix.EFAULT)), true
	}
	return 0, true
}

// threadsOf returns the tasks of thread group pid, with last at the end.
func (s *Server) threadsOf(pid, last int32) []int32 {
	var out []int32
	haveLast := false
	for _, t := range s.shim.Registry().Tasks() {
		if t.TGID() != pid {
			continue
		}
		if t.TID() == last {
			haveLast = true
			continue
		}
		out = append(out, t.TID())
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	if haveLast {
		out = append(out, last)
	}
	return out
}

// exit walks tid's lists and adds what happened to d.
func (s *Server) exit(tid int32, cause shim.Cause, st *translator.DeathState, env *shim.Env, d *protocol.Done) {
	var capt *guestmem.Capture
	if s.cfg.CaptureMemory {
		capt = guestmem.NewCapture(env.Memory)
		env = &shim.Env{Memory: capt, Waker: env.Waker}
	}
	tgid := int32(0)
	if t, ok := s.shim.Registry().Lookup(tid); ok {
		tgid = t.TGID()
	}
	walks := s.shim.TaskExited(tid, shim.Death{Cause: cause, State: st}, env)
	addDone(d, walks)
	s.taskEvent("exit", tid, tgid, cause, walks, capt, st)
}

// taskEvent reports an exit or exec to OnTask.
func (s *Server) taskEvent(kind string, tid, tgid int32, cause shim.Cause, walks []robustlist2.ListWalk, capt *guestmem.Capture, st *translator.DeathState) {
	if s.cfg.OnTask == nil {
		return
	}
	ev := TaskEvent{Kind: kind, TID: tid, TGID: tgid, Cause: cause, Walks: walks}
	if capt != nil {
		ev.Memory = capt.Words()
	}
	if st != nil && cause != shim.CauseExit && cause != shim.CauseExec {
		ev.Mode, ev.IP, ev.TP = st.Mode, st.IP, st.ThreadPointer
		ev.Regs = regsOf(st)
	}
	s.cfg.OnTask(ev)
}

// regsOf reads a death's registers back into a register file.
func regsOf(st *translator.DeathState) *translator.Regs {
	r := &translator.Regs{RIP: st.IP, RFLAGS: st.Flags}
	if st.Mode == 64 {
		r.FSBase = st.ThreadPointer
	} else {
		r.GSBase = st.ThreadPointer
	}
	for reg, p := range map[x86asm.Reg]*uint64{x86asm.RAX: &r.RAX, x86asm.RCX: &r.RCX, x86asm.RDX: &r.RDX, x86asm.RBX: &r.RBX,
		x86asm.RSP: &r.RSP, x86asm.RBP: &r.RBP, x86asm.RSI: &r.RSI, x86asm.RDI: &r.RDI, x86asm.R8: &r.R8, x86asm.R9: &r.R9,
		x86asm.R10: &r.R10, x86asm.R11: &r.R11, x86asm.R12: &r.R12, x86asm.R13: &r.R13, x86asm.R14: &r.R14, x86asm.R15: &r.R15} {
		if v, ok := st.Reg(reg); ok {
			*p = v
		}
	}
	return r
}

// bitsABI names a guest's ABI by its width.
func bitsABI(bits uint32) string {
	switch bits {
	case 32:
		return x86_32.Arch().Name
	case 64:
		return x86_64.Arch().Name
	}
	return ""
}

func addDone(d *protocol.Done, walks []robustlist2.ListWalk) {
	for _, w := range walks {
		d.Lists++
		if r := w.Report; r != nil {
			d.Entries += uint32(r.Visited)
			d.Marked += uint32(r.Marked)
			d.Woken += uint32(r.Woken)
			if r.LimitHit() {
				d.LimitHits++
			}
			if r.Failed() {
				d.Faults++
			}
		}
	}
}

func (s *Server) done(c *conn, d protocol.Done) error {
	if c.broken != nil {
		return nil
	}
	c.out = protocol.AppendDone(c.out[:0], d)
	return c.send()
}

// deathFor finds tid's registers among deaths.
func deathFor(deaths []protocol.Death, tid int32) *translator.DeathState {
	for i := range deaths {
		if d := &deaths[i]; d.TID == tid && (d.Mode == 32 || d.Mode == 64) {
			regs := d.Regs
			return &translator.DeathState{Mode: int(d.Mode), IP: d.IP, ThreadPointer: d.TP, Flags: d.Flags,
				Reg: (&translator.Regs{RAX: regs[0], RCX: regs[1], RDX: regs[2], RBX: regs[3], RSP: regs[4], RBP: regs[5],
					RSI: regs[6], RDI: regs[7], R8: regs[8], R9: regs[9], R10: regs[10], R11: regs[11], R12: regs[12],
					R13: regs[13], R14: regs[14], R15: regs[15]}).Lookup}
		}
	}
	return nil
}

// statsCounters lists the shim's counters in the order of the C
// client's struct fexrl_stats.
func statsCounters(st shim.Stats) []int64 {
	return []int64{st.Tasks, st.ListsRegistered, st.Walks, st.EntriesWalked, st.OwnerDiedMarked, st.Woken,
		st.WakeErrors, st.LimitHits, st.WalkFaults, st.UnknownTasks, st.HostWalked, st.UnlockWindows}
}
