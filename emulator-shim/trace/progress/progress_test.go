package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	var out bytes.Buffer
	b := NewOn(&out, "replay", 1000, Options{Now: clock, Width: 10})
	tests := []struct {
		advance time.Duration
		done, n int64
		want    string // what the update draws, "" for nothing
	}{
		{100 * time.Millisecond, 100, 5, ""}, // before the delay: nothing
		{500 * time.Millisecond, 250, 50, "\rreplay [==        ]  25% 50"},
		{50 * time.Millisecond, 300, 60, ""}, // too soon after the last draw
		{100 * time.Millisecond, 1000, 2_500_000, "\rreplay [==========] 100% 2.5M"},
		{100 * time.Millisecond, 2000, 12_000_000, "\rreplay [==========] 100% 12M"},
	}
	for i, tt := range tests {
		now = now.Add(tt.advance)
		out.Reset()
		b.Update(tt.done, tt.n)
		if got := out.String(); !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
			t.Errorf("update %d drew %q, want %q", i, got, tt.want)
		}
	}
	out.Reset()
	b.Done()
	if got := out.String(); !strings.HasPrefix(got, "\r   ") || !strings.HasSuffix(got, "\r") || strings.TrimSpace(got) != "" {
		t.Errorf("Done drew %q, want the line blanked", got)
	}
	out.Reset()
	b.Done()
	if out.Len() != 0 {
		t.Error("a second Done drew again")
	}
}

func TestUnknownTotal(t *testing.T) {
	now := time.Unix(0, 0)
	var out bytes.Buffer
	b := NewOn(&out, "import", 0, Options{Now: func() time.Time { return now }, Delay: time.Nanosecond, Every: time.Nanosecond})
	now = now.Add(time.Second)
	b.Update(12345, 20_000)
	if got := out.String(); got != "\rimport 20k" {
		t.Errorf("drew %q", got)
	}
}

func TestNotATerminal(t *testing.T) {
	var out bytes.Buffer
	if b := New(&out, "x", 1); b != nil {
		t.Error("a bar for a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || New(f, "x", 1) != nil {
		t.Error("a regular file taken for a terminal")
	}
	// A nil bar does nothing.
	var b *Bar
	b.Update(1, 1)
	b.Done()
}
