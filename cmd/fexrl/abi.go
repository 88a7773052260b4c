package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fexrl/fexrl/abi"
	"github.com/fexrl/fexrl/abi/archs"
)

func runABI(e *env, args []string) int {
	fs := newFlags(e, "abi", "[--arch x86_32|x86_64|arm64] [--json]")
	arch := fs.String("arch", "", "print only this architecture (x86_32, x86_64 or arm64)")
	asJSON := fs.Bool("json", false, "print JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "abi", err)
	}
	if err := noArgs(e, fs); err != nil {
		return exitCode(e, "abi", err)
	}
	tables := archs.All()
	if *arch != "" {
		a, err := archs.ByName(*arch)
		if err != nil {
			fmt.Fprintf(e.stderr, "fexrl abi: %v\n", err)
			fs.Usage()
			return 2
		}
		tables = []abi.Arch{a}
	}
	if *asJSON {
		return exitCode(e, "abi", writeABIJSON(e.stdout, tables))
	}
	writeABIText(e.stdout, tables)
	return 0
}

// abiJSON is the JSON form of one table.
type abiJSON struct {
	Name        string                `json:"name"`
	GOARCH      string                `json:"goarch"`
	Bits        int                   `json:"bits"`
	PtrSize     int                   `json:"ptr_size"`
	AuditArch   string                `json:"audit_arch"`
	RobustHead  abi.HeadLayout        `json:"robust_list_head"`
	Syscalls    map[string]int        `json:"syscalls"`
	Regs        abi.CallingConvention `json:"syscall_registers"`
	RobustList2 robustList2JSON       `json:"robust_list2"`
}

type robustList2JSON struct {
	Commands  map[string]uint32 `json:"commands"`
	ListLimit int               `json:"default_list_limit"`
}

func writeABIJSON(w io.Writer, tables []abi.Arch) error {
	out := make([]abiJSON, 0, len(tables))
	for _, a := range tables {
		sys := map[string]int{}
		for _, s := range a.Syscalls.Named() {
			sys[s.Name] = s.Nr
		}
		out = append(out, abiJSON{
			Name: a.Name, GOARCH: a.GOARCH, Bits: int(a.Bits), PtrSize: a.PtrSize(),
			AuditArch: fmt.Sprintf("%#x", a.AuditArch), RobustHead: a.RobustHead,
			Syscalls: sys, Regs: a.Regs,
			RobustList2: robustList2JSON{Commands: robustList2Commands(), ListLimit: abi.RobustList2DefaultListLimit},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func robustList2Commands() map[string]uint32 {
	m := map[string]uint32{}
	for _, c := range []abi.RobustListCmd{
		abi.RobustListCmdCreate64, abi.RobustListCmdCreate32, abi.RobustListCmdModify64,
		abi.RobustListCmdModify32, abi.RobustListCmdListLimit, abi.RobustListSetNative, abi.RobustListSetCompat,
	} {
		m[c.String()] = uint32(c)
	}
	return m
}

func writeABIText(w io.Writer, tables []abi.Arch) {
	for i, a := range tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (GOARCH %s, %s, AUDIT_ARCH %#x)\n", a.Name, a.GOARCH, a.Bits, a.AuditArch)
		fmt.Fprintf(w, "  syscall: number in %s; arguments in %s; result in %s\n",
			a.Regs.Number, strings.Join(a.Regs.Args[:], " "), a.Regs.Return)
		h := a.RobustHead
		fmt.Fprintf(w, "  robust_list_head: %d bytes; next @%d, futex_offset @%d, list_op_pending @%d (%d-byte pointers)\n",
			h.Size, h.Next, h.FutexOffset, h.ListOpPending, a.PtrSize())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range a.Syscalls.Named() {
			nr := fmt.Sprint(s.Nr)
			if s.Nr == abi.NoSyscall {
				nr = "-"
			}
			note := ""
			if s.Name == "set_robust_list2" || s.Name == "get_robust_list2" {
				note = "\t(proposed)"
			}
			fmt.Fprintf(tw, "    %s\t%s%s\n", s.Name, nr, note)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nset_robust_list2 commands: CREATE_64=%d CREATE_32=%d MODIFY_64=%d MODIFY_32=%d LIST_LIMIT=%d (kernel-internal: SET_NATIVE=%d SET_COMPAT=%d); default list limit %d\n",
		abi.RobustListCmdCreate64, abi.RobustListCmdCreate32, abi.RobustListCmdModify64, abi.RobustListCmdModify32,
		abi.RobustListCmdListLimit, abi.RobustListSetNative, abi.RobustListSetCompat, abi.RobustList2DefaultListLimit)
}
