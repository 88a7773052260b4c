package progress

import (
	"os"
	"syscall"
	"testing"
)

// A pseudo-terminal's master is a terminal: IsTerminal must say so, and
// New must draw on it.
func TestTerminal(t *testing.T) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	defer f.Close()
	if !IsTerminal(f) {
		t.Fatal("/dev/ptmx is not taken for a terminal")
	}
	if New(f, "x", 10) == nil {
		t.Fatal("no bar on a terminal")
	}
}
