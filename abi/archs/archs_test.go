package archs_test

import (
	"testing"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/archs"
)

func TestByName(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"x86_32", "x86_32", false},
		{"i386", "x86_32", false},
		{"386", "x86_32", false},
		{"x86_64", "x86_64", false},
		{"AMD64", "x86_64", false},
		{"arm64", "arm64", false},
		{"aarch64", "arm64", false},
		{"riscv64", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := archs.ByName(tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("ByName(%q) error = %v, wantErr %v", tt.name, err, tt.wantErr)
			continue
		}
		if got.Name != tt.want {
			t.Errorf("ByName(%q) = %q, want %q", tt.name, got.Name, tt.want)
		}
	}
}

func TestAllConsistent(t *testing.T) {
	seenAudit := map[uint32]bool{}
	for _, a := range archs.All() {
		if !a.Bits.Valid() {
			t.Errorf("%s: bits %d", a.Name, a.Bits)
		}
		if a.RobustHead != a.Bits.Head() {
			t.Errorf("%s: head %+v does not match its %v pointers", a.Name, a.RobustHead, a.Bits)
		}
		if seenAudit[a.AuditArch] {
			t.Errorf("%s: audit arch %#x used twice", a.Name, a.AuditArch)
		}
		seenAudit[a.AuditArch] = true
		got, ok := archs.ByAuditArch(a.AuditArch)
		if !ok || got.Name != a.Name {
			t.Errorf("ByAuditArch(%#x) = %q, %v", a.AuditArch, got.Name, ok)
		}
		seenNr := map[int]string{}
		for _, s := range a.Syscalls.Named() {
			if s.Nr == abi.NoSyscall {
				continue
			}
			if s.Nr < 0 {
				t.Errorf("%s: %s = %d", a.Name, s.Name, s.Nr)
			}
			if prev, dup := seenNr[s.Nr]; dup {
				t.Errorf("%s: %s and %s share number %d", a.Name, prev, s.Name, s.Nr)
			}
			seenNr[s.Nr] = s.Name
		}
	}
	if _, ok := archs.ByAuditArch(0); ok {
		t.Error("ByAuditArch(0) found a table")
	}
}
