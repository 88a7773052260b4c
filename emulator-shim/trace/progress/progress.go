// Package progress draws a one-line progress bar on a terminal, for long
// replays and imports. It draws nothing when its output is not a
// terminal, so piped and redirected output stays clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar is a progress bar on one terminal line. A nil *Bar is valid and
// draws nothing.
type Bar struct {
	w      io.Writer
	label  string
	total  int64
	start  time.Time
	last   time.Time
	now    func() time.Time
	delay  time.Duration
	every  time.Duration
	drawn  bool
	width  int
	lineBy int
}

// Options tune a Bar; the zero value is what New uses.
type Options struct {
	// Delay is how long the work must run before the bar appears, so
	// short runs never show one; 0 means 500ms.
	Delay time.Duration
	// Every is the least time between two redraws; 0 means 100ms.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Width is the number of cells of the bar; 0 means 30.
	Width int
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f.Fd())
}

// New returns a bar for work of total bytes, drawn on w when w is a
// terminal, or nil.
func New(w io.Writer, label string, total int64) *Bar {
	if !IsTerminal(w) {
		return nil
	}
	return NewOn(w, label, total, Options{})
}

// NewOn returns a bar drawn on w whatever w is (for tests, and for
// callers that checked IsTerminal themselves).
func NewOn(w io.Writer, label string, total int64, o Options) *Bar {
	b := &Bar{w: w, label: label, total: total, now: o.Now, delay: o.Delay, every: o.Every, width: o.Width}
	if b.now == nil {
		b.now = time.Now
	}
	if b.delay == 0 {
		b.delay = 500 * time.Millisecond
	}
	if b.every == 0 {
		b.every = 100 * time.Millisecond
	}
	if b.width == 0 {
		b.width = 30
	}
	b.start = b.now()
	return b
}

// Update redraws the bar for done bytes and n items (events or lines)
// if enough time has passed.
func (b *Bar) Update(done, n int64) {
	if b == nil {
		return
	}
	t := b.now()
	if t.Sub(b.start) < b.delay || t.Sub(b.last) < b.every {
		return
	}
	b.last = t
	var line string
	if b.total > 0 {
		frac := float64(done) / float64(b.total)
		frac = max(0, min(1, frac))
		full := int(frac * float64(b.width))
		line = fmt.Sprintf("\r%s [%s%s] %3d%% %s", b.label, strings.Repeat("=", full), strings.Repeat(" ", b.width-full), int(frac*100), count(n))
	} else {
		line = fmt.Sprintf("\r%s %s", b.label, count(n))
	}
	if pad := b.lineBy - len(line); pad > 0 {
		line += strings.Repeat(" ", pad)
	}
	b.lineBy = len(line)
	fmt.Fprint(b.w, line)
	b.drawn = true
}

// count formats n with a k or M suffix.
func count(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprintf("%d", n)
}

// Done erases the bar if it was drawn.
func (b *Bar) Done() {
	if b == nil || !b.drawn {
		return
	}
	fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.lineBy))
	b.drawn = false
}
