// Package abitest checks an architecture table against outside sources of
// truth: golang.org/x/sys/unix for the architecture Go was built for, and
// the kernel's own headers compiled by gcc.
package abitest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/abi"
)

// Values returns every number in a table under a stable name: the syscall
// names of abi.Syscalls.Named, plus "audit_arch", "ptr_size", the head
// layout as "head_size", "head_next", "head_futex_offset" and
// "head_list_op_pending", and the shared futex constants.
func Values(a abi.Arch) map[string]int64 {
	v := map[string]int64{
		"audit_arch":           int64(a.AuditArch),
		"ptr_size":             int64(a.PtrSize()),
		"head_size":            int64(a.RobustHead.Size),
		"head_next":            int64(a.RobustHead.Next),
		"head_futex_offset":    int64(a.RobustHead.FutexOffset),
		"head_list_op_pending": int64(a.RobustHead.ListOpPending),
		"robust_list_limit":    abi.RobustListLimit,
		"futex_waiters":        int64(abi.FutexWaiters),
		"futex_owner_died":     int64(abi.FutexOwnerDied),
		"futex_tid_mask":       int64(abi.FutexTIDMask),
	}
	for _, s := range a.Syscalls.Named() {
		v[s.Name] = int64(s.Nr)
	}
	return v
}

// Compare fails t for every name in want whose value differs from the
// table's, and for every name of want the table lacks.
func Compare(t *testing.T, a abi.Arch, source string, want map[string]int64) {
	t.Helper()
	got := Values(a)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s: table has no %s", a.Name, n)
			continue
		}
		if g != want[n] {
			t.Errorf("%s: %s = %d (%#x), %s says %d (%#x)", a.Name, n, g, g, source, want[n], want[n])
		}
	}
}

// CValues compiles a C file with gcc and the given flags in which each
// expression of exprs (a C integer expression, by name) initializes a
// constant after the includes, and reads the constants back from the
// object file, so nothing built for the target has to run here (a host
// may compile for i386 without being able to run i386 code). It fails t
// if gcc cannot compile it.
func CValues(t *testing.T, flags []string, includes []string, exprs map[string]string) map[string]int64 {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to compile the kernel headers (run scripts/setup): %v", err)
	}
	names := make([]string, 0, len(exprs))
	for n := range exprs {
		names = append(names, n)
	}
	sort.Strings(names)
	var src strings.Builder
	src.WriteString("#include <stddef.h>\n")
	for _, inc := range includes {
		fmt.Fprintf(&src, "#include %s\n", inc)
	}
	for _, n := range names {
		fmt.Fprintf(&src, "__attribute__((used)) const long long fexrl_value_%s = (long long)(%s);\n", n, exprs[n])
	}
	dir := t.TempDir()
	cfile := filepath.Join(dir, "values.c")
	obj := filepath.Join(dir, "values.o")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, flags...), "-c", "-o", obj, cfile)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s\n(is gcc-multilib installed? run scripts/setup)\n%s", strings.Join(args, " "), err, out, src.String())
	}
	vals, err := objectValues(obj, "fexrl_value_")
	if err != nil {
		t.Fatalf("reading %s: %v", obj, err)
	}
	if len(vals) != len(exprs) {
		t.Fatalf("got %d values, want %d", len(vals), len(exprs))
	}
	return vals
}

// objectValues reads the 8-byte constants whose symbols start with prefix
// from a relocatable ELF object, keyed by the rest of the symbol name.
func objectValues(path, prefix string) (map[string]int64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	vals := map[string]int64{}
	for _, s := range syms {
		name, ok := strings.CutPrefix(s.Name, prefix)
		if !ok {
			continue
		}
		if int(s.Section) >= len(f.Sections) || s.Size != 8 {
			return nil, fmt.Errorf("symbol %s: section %d, size %d", s.Name, s.Section, s.Size)
		}
		data, err := f.Sections[s.Section].Data()
		if err != nil {
			return nil, fmt.Errorf("symbol %s: %w", s.Name, err)
		}
		if s.Value+8 > uint64(len(data)) {
			return nil, fmt.Errorf("symbol %s lies outside its section", s.Name)
		}
		vals[name] = int64(f.ByteOrder.Uint64(data[s.Value:]))
	}
	return vals, nil
}

// HeaderExprs are the C expressions for the head layout and pointer size
// of the compiler's native struct robust_list_head (from <linux/futex.h>).
func HeaderExprs() map[string]string {
	return map[string]string{
		"ptr_size":             "sizeof(void *)",
		"head_size":            "sizeof(struct robust_list_head)",
		"head_next":            "offsetof(struct robust_list_head, list.next)",
		"head_futex_offset":    "offsetof(struct robust_list_head, futex_offset)",
		"head_list_op_pending": "offsetof(struct robust_list_head, list_op_pending)",
		"robust_list_limit":    "ROBUST_LIST_LIMIT",
		"futex_waiters":        "FUTEX_WAITERS",
		"futex_owner_died":     "FUTEX_OWNER_DIED",
		"futex_tid_mask":       "FUTEX_TID_MASK",
	}
}

// SyscallExprs maps each syscall name of the table to its __NR_ macro,
// leaving out the proposed syscalls no header has yet and those the
// architecture lacks.
func SyscallExprs(a abi.Arch) map[string]string {
	m := map[string]string{}
	for _, s := range a.Syscalls.Named() {
		if s.Nr == abi.NoSyscall || s.Name == "set_robust_list2" || s.Name == "get_robust_list2" {
			continue
		}
		m[s.Name] = "__NR_" + s.Name
	}
	return m
}
