package robustlist2

import (
	"sort"
	"strconv"
	"sync"

	"github.com/fexrl/fexrl/abi"
)

// Slot indices of a task's list table, as in the set_robust_list2 series:
// the two legacy lists first, then the set_robust_list2 lists.
const (
	// SlotNative holds the list of the 64-bit legacy set_robust_list
	// (task->robust_list on an x86-64 kernel).
	SlotNative = 0
	// SlotCompat holds the list of the 32-bit legacy set_robust_list
	// (task->compat_robust_list).
	SlotCompat = 1
	// SlotRobust2 is the table index of set_robust_list2 list 0.
	SlotRobust2 = 2
)

// Slot is one registered list.
type Slot struct {
	// Head is the address of the robust_list_head; 0 means none.
	Head uint64 `json:"head"`
	// Bits is the list's pointer width; 0 means the slot is free.
	Bits abi.Bits `json:"bits"`
	// Backend says who walks the list when the task dies.
	Backend Backend `json:"backend"`
	// HostIndex is the host's set_robust_list2 index of the list, for
	// BackendHostRobustList2.
	HostIndex uint32 `json:"host_index,omitempty"`
}

// InUse reports whether the slot holds a list (possibly with a NULL head,
// which the legacy syscall allows).
func (s Slot) InUse() bool { return s.Bits != 0 }

// SlotName names a table index: "native", "compat" or "robust2[i]".
func SlotName(index int) string {
	switch index {
	case SlotNative:
		return "native"
	case SlotCompat:
		return "compat"
	}
	return "robust2[" + strconv.Itoa(index-SlotRobust2) + "]"
}

// Placer decides, each time a list is set, replaced or cleared, who walks
// it at exit, and registers it with the host kernel when that is the
// answer. It is called with the task locked; a Slot with Head 0 means the
// list went away. The host back ends of this package implement it; nil
// means fexrl walks every list itself.
type Placer interface {
	// Place returns new with its Backend (and HostIndex) chosen.
	Place(t *Task, index int, old, new Slot) Slot
}

// Task is one guest thread's robust-list state.
type Task struct {
	tid  int32
	tgid int32

	mu    sync.Mutex
	slots []Slot // SlotRobust2 + list limit entries
	dead  bool
}

// TID is the task's thread ID.
func (t *Task) TID() int32 { return t.tid }

// TGID is the task's thread group (process) ID.
func (t *Task) TGID() int32 { return t.tgid }

// Slots returns a copy of the task's list table (index SlotNative,
// SlotCompat, then the set_robust_list2 lists).
func (t *Task) Slots() []Slot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Slot(nil), t.slots...)
}

// Lists returns the registered lists in walk order, with their table
// indices.
func (t *Task) Lists() []IndexedSlot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listsLocked()
}

func (t *Task) listsLocked() []IndexedSlot {
	var out []IndexedSlot
	for i, s := range t.slots {
		if s.InUse() && s.Head != 0 {
			out = append(out, IndexedSlot{Index: i, Slot: s})
		}
	}
	return out
}

// IndexedSlot is a slot with its table index.
type IndexedSlot struct {
	Index int `json:"index"`
	Slot
}

// Config configures a Registry.
type Config struct {
	// ListLimit is how many set_robust_list2 lists a task may hold; 0
	// means abi.RobustList2DefaultListLimit.
	ListLimit int
	// Placer picks each list's back end; nil means fexrl's own walk.
	Placer Placer
	// MayRead decides whether caller may read target's lists with
	// get_robust_list (the kernel's ptrace_may_access check); nil allows
	// every task known to the registry.
	MayRead func(caller, target *Task) bool
}

const shardCount = 64

type shard struct {
	mu    sync.RWMutex
	tasks map[int32]*Task
}

// Registry holds the robust-list state of every guest task, by TID. It is
// safe for concurrent use; lookups are O(1).
type Registry struct {
	cfg    Config
	shards [shardCount]shard
	pool   sync.Pool // *Walker
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) *Registry {
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = abi.RobustList2DefaultListLimit
	}
	r := &Registry{cfg: cfg}
	for i := range r.shards {
		r.shards[i].tasks = map[int32]*Task{}
	}
	r.pool.New = func() any { return new(Walker) }
	return r
}

// ListLimit is the number of set_robust_list2 lists a task may hold.
func (r *Registry) ListLimit() int { return r.cfg.ListLimit }

func (r *Registry) shard(tid int32) *shard {
	return &r.shards[uint32(tid)%shardCount]
}

// Add registers a new task with no lists, as clone, fork and vfork leave
// a child. If tid was already known (a host that reuses TIDs, or an exit
// fexrl never saw), the old task is replaced and returned.
func (r *Registry) Add(tid, tgid int32) (t, replaced *Task) {
	t = &Task{tid: tid, tgid: tgid, slots: make([]Slot, SlotRobust2+r.cfg.ListLimit)}
	s := r.shard(tid)
	s.mu.Lock()
	replaced = s.tasks[tid]
	s.tasks[tid] = t
	s.mu.Unlock()
	return t, replaced
}

// Lookup returns the task with this TID.
func (r *Registry) Lookup(tid int32) (*Task, bool) {
	s := r.shard(tid)
	s.mu.RLock()
	t, ok := s.tasks[tid]
	s.mu.RUnlock()
	return t, ok
}

// Remove forgets the task with this TID without walking its lists.
func (r *Registry) Remove(tid int32) (*Task, bool) {
	s := r.shard(tid)
	s.mu.Lock()
	t, ok := s.tasks[tid]
	delete(s.tasks, tid)
	s.mu.Unlock()
	return t, ok
}

// Len returns the number of known tasks.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		n += len(s.tasks)
		s.mu.RUnlock()
	}
	return n
}

// Tasks returns the known tasks ordered by TID.
func (r *Registry) Tasks() []*Task {
	var out []*Task
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		for _, t := range s.tasks {
			out = append(out, t)
		}
		s.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tid < out[j].tid })
	return out
}

// set stores a slot and lets the placer choose its back end. t.mu held.
func (r *Registry) set(t *Task, index int, s Slot) {
	old := t.slots[index]
	s.Backend, s.HostIndex = BackendWalk, 0
	if r.cfg.Placer != nil && (s.Head != 0 || old.Backend != BackendWalk) {
		s = r.cfg.Placer.Place(t, index, old, s)
	}
	if !s.InUse() {
		s = Slot{}
	}
	t.slots[index] = s
}

// ListWalk is one list's outcome at exit or exec.
type ListWalk struct {
	// Index is the list's table index.
	Index int `json:"index"`
	// Slot is the list as registered.
	Slot Slot `json:"slot"`
	// Report is fexrl's walk; nil when a host back end walks the list.
	Report *Report `json:"report,omitempty"`
}

// Death says how a task died, for the walk's options.
type Death struct {
	// Options returns the walk options for one list; nil means the
	// kernel's walk for every list.
	Options func(index int, s Slot) WalkOptions
}

// Exit walks every list of the task that fexrl walks (in table order, as
// the kernel does) for a task that exits or is killed, then forgets the
// task. It reports false if the TID is unknown. A task can die only once:
// a second Exit for the same task object finds nothing to do.
func (r *Registry) Exit(tid int32, mem Memory, waker Waker, d Death) ([]ListWalk, bool) {
	t, ok := r.Remove(tid)
	if !ok {
		return nil, false
	}
	return r.release(t, mem, waker, d, true), true
}

// Exec walks the task's lists as the kernel does when a task calls
// execve, then clears them; the task stays registered.
func (r *Registry) Exec(tid int32, mem Memory, waker Waker, d Death) ([]ListWalk, bool) {
	t, ok := r.Lookup(tid)
	if !ok {
		return nil, false
	}
	return r.release(t, mem, waker, d, false), true
}

// Walk walks one list head without touching any registry state; Exit and
// Exec use it, and so can callers that walk lists they hold elsewhere.
func (r *Registry) Walk(mem Memory, waker Waker, head uint64, bits abi.Bits, tid uint32, opts WalkOptions) *Report {
	w := r.pool.Get().(*Walker)
	rep := w.Walk(mem, waker, head, bits, tid, opts).Clone()
	r.pool.Put(w)
	return rep
}

func (r *Registry) release(t *Task, mem Memory, waker Waker, d Death, exit bool) []ListWalk {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return nil
	}
	if exit {
		t.dead = true
	}
	lists := t.listsLocked()
	out := make([]ListWalk, 0, len(lists))
	for _, l := range lists {
		lw := ListWalk{Index: l.Index, Slot: l.Slot}
		if l.Backend == BackendWalk {
			var opts WalkOptions
			if d.Options != nil {
				opts = d.Options(l.Index, l.Slot)
			}
			lw.Report = r.Walk(mem, waker, l.Head, l.Bits, uint32(t.tid), opts)
		}
		out = append(out, lw)
	}
	// The host kernel walks and forgets what it holds itself when the
	// host thread exits or execs, so the placer is not told.
	clear(t.slots)
	return out
}
