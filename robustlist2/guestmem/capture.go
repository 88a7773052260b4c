package guestmem

// CapturedWord is a word of guest memory as a walk first read it.
type CapturedWord struct {
	Addr  uint64 `json:"addr"`
	Size  int    `json:"size"`
	Value uint64 `json:"value"`
}

// memory is the robustlist2.Memory interface (guestmem does not import
// robustlist2).
type memory interface {
	Load32(addr uint64) (uint32, error)
	Load64(addr uint64) (uint64, error)
	Store32(addr uint64, v uint32) error
	Store64(addr uint64, v uint64) error
	CompareAndSwap32(addr uint64, old, new uint32) (uint32, error)
}

// Capture is a memory that passes every access to another and records
// the first value read at each address (a load, or the value a
// compare-and-swap found): the memory a walk saw before it changed
// anything, which a trace keeps so that a replay reads the same. It is
// for one walk on one goroutine.
type Capture struct {
	inner memory
	seen  map[uint64]bool
	words []CapturedWord
}

// NewCapture returns a Capture in front of inner (a robustlist2.Memory).
func NewCapture(inner memory) *Capture {
	return &Capture{inner: inner, seen: map[uint64]bool{}}
}

// Words returns what was read, in the order first read.
func (c *Capture) Words() []CapturedWord { return c.words }

func (c *Capture) note(addr uint64, size int, v uint64) {
	key := addr<<4 | uint64(size)
	if !c.seen[key] {
		c.seen[key] = true
		c.words = append(c.words, CapturedWord{Addr: addr, Size: size, Value: v})
	}
}

// Load32 reads through and records.
func (c *Capture) Load32(addr uint64) (uint32, error) {
	v, err := c.inner.Load32(addr)
	if err == nil {
		c.note(addr, 4, uint64(v))
	}
	return v, err
}

// Load64 reads through and records.
func (c *Capture) Load64(addr uint64) (uint64, error) {
	v, err := c.inner.Load64(addr)
	if err == nil {
		c.note(addr, 8, v)
	}
	return v, err
}

// Store32 writes through.
func (c *Capture) Store32(addr uint64, v uint32) error { return c.inner.Store32(addr, v) }

// Store64 writes through.
func (c *Capture) Store64(addr uint64, v uint64) error { return c.inner.Store64(addr, v) }

// CompareAndSwap32 swaps through and records the value found.
func (c *Capture) CompareAndSwap32(addr uint64, old, new uint32) (uint32, error) {
	prev, err := c.inner.CompareAndSwap32(addr, old, new)
	if err == nil {
		c.note(addr, 4, uint64(prev))
	}
	return prev, err
}
