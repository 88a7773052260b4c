// Package archs lists the architecture tables of abi/x86_32, abi/x86_64
// and abi/arm64 and finds one by name.
package archs

import (
	"fmt"
	"strings"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/arm64"
	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/abi/x86_64"
)

// All returns the three tables in a fixed order: x86_32, x86_64, arm64.
func All() []abi.Arch {
	return []abi.Arch{x86_32.Arch(), x86_64.Arch(), arm64.Arch()}
}

// Names returns the names of All, in the same order.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = a.Name
	}
	return names
}

// ByName returns the table called name (x86_32, x86_64 or arm64; the Go
// names 386 and amd64 and the common aliases i386, i686, x86, amd64 and
// aarch64 are accepted too).
func ByName(name string) (abi.Arch, error) {
	switch strings.ToLower(name) {
	case "x86_32", "386", "i386", "i686", "x86", "ia32":
		return x86_32.Arch(), nil
	case "x86_64", "amd64", "x86-64":
		return x86_64.Arch(), nil
	case "arm64", "aarch64":
		return arm64.Arch(), nil
	}
	return abi.Arch{}, fmt.Errorf("unknown architecture %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// ByAuditArch returns the table whose seccomp audit arch is a.
func ByAuditArch(a uint32) (abi.Arch, bool) {
	for _, t := range All() {
		if t.AuditArch == a {
			return t, true
		}
	}
	return abi.Arch{}, false
}
