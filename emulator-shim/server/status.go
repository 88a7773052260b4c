package server

import (
	"encoding/json"
	"os"
	"sort"
	"time"

	shim "github.com/fexrl/fexrl/emulator-shim"
	"github.com/fexrl/fexrl/emulator-shim/protocol"
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

// Status is what a running server knows about its tree, as `fexrl status`
// prints it.
type Status struct {
	// PID is the server's process; Protocol its protocol version.
	PID      int    `json:"pid"`
	Protocol int    `json:"protocol"`
	Uptime   string `json:"uptime"`
	// Guard says whether the server traces the tree's emulators for
	// deaths that run no code ("on", with GuardWalks walks so far), or
	// why not.
	Guard string `json:"guard"`
	// Backend says who walks the lists, with the host probe's answer.
	Backend    string `json:"backend"`
	GuardWalks int64  `json:"guard_walks"`
	// Stats are the tree's counters.
	Stats shim.Stats `json:"stats"`
	// Processes are the emulator processes, by pid.
	Processes []ProcessStatus `json:"processes"`
}

// ProcessStatus is one emulator process.
type ProcessStatus struct {
	PID        int32  `json:"pid"`
	ForkedFrom int32  `json:"forked_from,omitempty"`
	Program    string `json:"program,omitempty"`
	GuestBits  uint32 `json:"guest_bits,omitempty"`
	GuestBase  uint64 `json:"guest_base"`
	Connected  bool   `json:"connected"`
	Execs      int    `json:"execs,omitempty"`
	// Tasks are its live guest threads, by TID.
	Tasks []TaskStatus `json:"tasks"`
}

// TaskStatus is one live guest thread and its robust lists.
type TaskStatus struct {
	TID   int32        `json:"tid"`
	Lists []ListStatus `json:"lists"`
}

// ListStatus is one registered list and, read without writing, what the
// thread holds on it now.
type ListStatus struct {
	Index   int    `json:"index"`
	Name    string `json:"name"`
	Bits    int    `json:"bits"`
	Head    uint64 `json:"head"`
	Backend string `json:"backend"`
	// Held are the robust mutexes on the list whose futex word holds the
	// thread's TID: the ones its death would mark FUTEX_OWNER_DIED.
	Held []Held `json:"held"`
	// Pending is the list_op_pending mutex, if any.
	Pending *Held `json:"pending,omitempty"`
	// Entries counts the list's entries; Stop says why the read walk
	// ended ("end" for a well-formed list).
	Entries int    `json:"entries"`
	Stop    string `json:"stop"`
	// Error says why the list could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// Held is one robust mutex: its list node, its futex word's address and
// value.
type Held struct {
	Node  uint64 `json:"node"`
	Word  uint64 `json:"word"`
	Value uint32 `json:"value"`
	PI    bool   `json:"pi,omitempty"`
	// Owned says the word holds the thread's TID.
	Owned bool `json:"owned"`
}

// Status returns the tree's status. The lists are read from each
// process's memory with process_vm_readv (the server must be allowed to:
// the same user, or root), never written.
func (s *Server) Status() Status {
	st := Status{PID: os.Getpid(), Protocol: protocol.Version, Uptime: time.Since(s.start).Round(time.Millisecond).String(),
		Stats: s.shim.Stats()}
	s.mu.Lock()
	st.Guard = "off: the server is not the emulators' tracer (only fexrl qemu starts it so)"
	if s.guarded {
		st.Guard = "on"
	}
	st.GuardWalks = s.guardWalks.Load()
	st.Backend = s.backend
	procs := make([]*process, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })
	tasks := s.shim.Registry().Tasks()
	for _, p := range procs {
		s.mu.Lock()
		ps := ProcessStatus{PID: p.pid, ForkedFrom: p.forkedFrom, Program: p.program, GuestBits: p.guestBits,
			GuestBase: p.guestBase, Connected: p.conn != nil, Execs: p.execs, Tasks: []TaskStatus{}}
		s.mu.Unlock()
		var mem *guestmem.Process
		for _, t := range tasks {
			if t.TGID() != p.pid {
				continue
			}
			ts := TaskStatus{TID: t.TID(), Lists: []ListStatus{}}
			for _, l := range t.Lists() {
				ls := ListStatus{Index: l.Index, Name: robustlist2.SlotName(l.Index), Bits: int(l.Bits), Head: l.Head,
					Backend: l.Backend.String(), Held: []Held{}}
				if mem == nil {
					var err error
					if mem, err = guestmem.NewProcess(int(p.pid)); err != nil {
						ls.Error = err.Error()
					}
				}
				if mem != nil && l.Head != 0 {
					mem.Reset()
					ro := readOnly{mem: mem, base: p.guestBase}
					r := s.shim.Registry().Walk(ro, ro, l.Head, l.Bits, uint32(t.TID()), robustlist2.WalkOptions{})
					ls.Entries, ls.Stop = r.Visited, r.Stop.String()
					for _, e := range r.Entries {
						h := Held{Node: e.Node, Word: e.Word, Value: e.Old, PI: e.PI, Owned: e.Action == robustlist2.ActionMarked}
						switch {
						case e.Pending:
							hp := h
							ls.Pending = &hp
						case h.Owned:
							ls.Held = append(ls.Held, h)
						}
					}
				}
				ts.Lists = append(ts.Lists, ls)
			}
			ps.Tasks = append(ps.Tasks, ts)
		}
		if mem != nil {
			_ = mem.Close()
		}
		sort.Slice(ps.Tasks, func(i, j int) bool { return ps.Tasks[i].TID < ps.Tasks[j].TID })
		st.Processes = append(st.Processes, ps)
	}
	return st
}

// readOnly reads a process's guest memory (host = guest + base) and
// writes nothing: a compare-and-swap reports the word as it is.
type readOnly struct {
	mem  *guestmem.Process
	base uint64
}

func (r readOnly) Load32(addr uint64) (uint32, error) { return r.mem.Load32(addr + r.base) }
func (r readOnly) Load64(addr uint64) (uint64, error) { return r.mem.Load64(addr + r.base) }
func (r readOnly) Store32(addr uint64, v uint32) error {
	_, err := r.mem.Load32(addr + r.base)
	return err
}
func (r readOnly) Store64(addr uint64, v uint64) error {
	_, err := r.mem.Load64(addr + r.base)
	return err
}
func (r readOnly) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, &guestmem.AccessError{Op: "cas32", Addr: addr, Size: 4, Err: guestmem.ErrMisaligned}
	}
	return r.mem.Load32(addr + r.base)
}
func (r readOnly) Wake(addr uint64, n int) (int, error) { return 0, nil }

// sendStatus answers a Status request with the JSON document, in chunks.
func (s *Server) sendStatus(c *conn, flags uint32) error {
	doc, err := json.Marshal(s.Status())
	if err != nil {
		return err
	}
	for {
		chunk := doc
		if len(chunk) > protocol.MaxStatusChunk {
			chunk = chunk[:protocol.MaxStatusChunk]
		}
		doc = doc[len(chunk):]
		c.out = protocol.AppendStatusReply(c.out[:0], chunk, len(doc) > 0)
		if err := c.send(); err != nil {
			return err
		}
		if len(doc) == 0 {
			return nil
		}
	}
}
