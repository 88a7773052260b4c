package translator

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/abi"
)

// hexCode decodes a hex string with optional spaces.
func hexCode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// siteCase is one DecodeSite input with what it must give.
type siteCase struct {
	name string
	code string // hex
	mode int
	// For accepted sites:
	kind   SiteKind
	len    int
	resume int // 0 means equal to len
	text   string
	// For rejected ones (kind == SiteInvalid):
	errHas    string // substring of Reason
	inst      string // SiteError.Inst
	truncated bool
}

// siteCases are real encodings, accepted and rejected.
func siteCases() []siteCase {
	return []siteCase{
		// The four sites, in every mode they exist in.
		{name: "int80 16-bit", code: "cd 80", mode: 16, kind: SiteInt80, len: 2, text: "int $0x80"},
		{name: "int80 32-bit", code: "cd 80", mode: 32, kind: SiteInt80, len: 2, text: "int $0x80"},
		{name: "int80 64-bit", code: "cd 80", mode: 64, kind: SiteInt80, len: 2, text: "int $0x80"},
		{name: "syscall 64-bit", code: "0f 05", mode: 64, kind: SiteSyscall, len: 2, text: "syscall"},
		{name: "syscall 32-bit", code: "0f 05", mode: 32, kind: SiteSyscall32, len: 2, text: "syscall"},
		{name: "sysenter 32-bit", code: "0f 34", mode: 32, kind: SiteSysenter, len: 2, text: "sysenter"},
		{name: "vdso call", code: "65 ff 15 10 00 00 00", mode: 32, kind: SiteVDSOCall, len: 7, text: "call *%gs:0x10"},
		{name: "vdso call sib form", code: "65 ff 14 25 10 00 00 00", mode: 32, kind: SiteVDSOCall, len: 8, text: "call *%gs:0x10(,%eiz)"},
		{name: "vdso call addr16", code: "67 65 ff 16 10 00", mode: 32, kind: SiteVDSOCall, len: 6, text: "call *%gs:0x10"},
		{name: "vdso call repeated gs", code: "65 65 ff 15 10 00 00 00", mode: 32, kind: SiteVDSOCall, len: 8},
		// Trailing bytes are not part of the site.
		{name: "int80 then nops", code: "cd 80 90 90 90", mode: 32, kind: SiteInt80, len: 2},
		{name: "syscall then more", code: "0f 05 48 89 c7 e8 00 00 00 00 90 90 90 90 90 90 90 90", mode: 64, kind: SiteSyscall, len: 2},

		// Harmless prefixes: the same instruction, longer.
		{name: "cs int80", code: "2e cd 80", mode: 32, kind: SiteInt80, len: 3, text: "cs int $0x80"},
		{name: "cs int80 64-bit", code: "2e cd 80", mode: 64, kind: SiteInt80, len: 3},
		{name: "three cs int80", code: "2e 2e 2e cd 80", mode: 32, kind: SiteInt80, len: 5},
		{name: "data32 int80 16-bit", code: "66 cd 80", mode: 16, kind: SiteInt80, len: 3},
		{name: "addr32 int80 64-bit", code: "67 cd 80", mode: 64, kind: SiteInt80, len: 3},
		{name: "rex int80", code: "40 cd 80", mode: 64, kind: SiteInt80, len: 3},
		{name: "data16 syscall", code: "66 0f 05", mode: 64, kind: SiteSyscall, len: 3, text: "data16 syscall"},
		{name: "rex.w syscall", code: "48 0f 05", mode: 64, kind: SiteSyscall, len: 3, text: "rex.W syscall"},
		{name: "data16 rex.w syscall", code: "66 48 0f 05", mode: 64, kind: SiteSyscall, len: 4},
		{name: "gs syscall", code: "65 0f 05", mode: 64, kind: SiteSyscall, len: 3},
		{name: "data16 syscall 32-bit", code: "66 0f 05", mode: 32, kind: SiteSyscall32, len: 3, text: "data16 syscall"},
		{name: "ds syscall 32-bit", code: "3e 0f 05", mode: 32, kind: SiteSyscall32, len: 3},
		{name: "gs sysenter", code: "65 0f 34", mode: 32, kind: SiteSysenter, len: 3, text: "gs sysenter"},

		// The vDSO's landing pad: the kernel resumes after the int $0x80.
		{name: "sysenter int80", code: "0f 34 cd 80 5d 5a 59 c3", mode: 32, kind: SiteSysenter, len: 2, resume: 4},
		{name: "old vdso sysenter", code: "0f 34 90 90 90 90 90 90 90 cd 80 5d 5a 59 c3", mode: 32, kind: SiteSysenter, len: 2, resume: 11},
		{name: "syscall32 int80", code: "0f 05 cd 80 5d", mode: 32, kind: SiteSyscall32, len: 2, resume: 4},
		{name: "sysenter nop only", code: "0f 34 90 90", mode: 32, kind: SiteSysenter, len: 2},
		{name: "sysenter half int", code: "0f 34 cd", mode: 32, kind: SiteSysenter, len: 2},
		{name: "sysenter int81", code: "0f 34 cd 81", mode: 32, kind: SiteSysenter, len: 2},
		{name: "syscall64 int80 no pad", code: "0f 05 cd 80", mode: 64, kind: SiteSyscall, len: 2},
		{name: "int80 int80 no pad", code: "cd 80 cd 80", mode: 32, kind: SiteInt80, len: 2},

		// Prefixes that change the meaning.
		{name: "rep syscall", code: "f3 0f 05", mode: 64, errHas: "rep/repne", inst: "rep syscall"},
		{name: "repne syscall", code: "f2 0f 05", mode: 64, errHas: "rep/repne"},
		{name: "lock syscall", code: "f0 0f 05", mode: 64, errHas: "lock"},
		{name: "rep syscall 32-bit", code: "f3 0f 05", mode: 32, errHas: "rep/repne", inst: "rep syscall"},
		{name: "lock gs syscall 32-bit", code: "f0 65 0f 05", mode: 32, errHas: "lock"},
		{name: "lock int80", code: "f0 cd 80", mode: 32, errHas: "lock", inst: "lock int $0x80"},
		{name: "rep int80", code: "f3 cd 80", mode: 32, errHas: "rep/repne"},
		{name: "rep sysenter", code: "f3 0f 34", mode: 32, errHas: "rep/repne"},
		{name: "callw gs:0x10", code: "66 65 ff 15 10 00 00 00", mode: 32, errHas: "16-bit call", inst: "callw *%gs:0x10"},
		{name: "fs then gs call", code: "64 65 ff 15 10 00 00 00", mode: 32, errHas: "segment override"},
		{name: "gs then fs call", code: "65 64 ff 15 10 00 00 00", mode: 32, errHas: "not the vDSO call"},
		{name: "notrack gs call", code: "3e 65 ff 15 10 00 00 00", mode: 32, errHas: "segment override"},
		{name: "bnd gs call", code: "f2 65 ff 15 10 00 00 00", mode: 32, errHas: "rep/repne"},

		// The right bytes in the wrong mode.
		{name: "syscall 16-bit", code: "0f 05", mode: 16, errHas: "16-bit code", inst: "syscall"},
		{name: "sysenter 64-bit", code: "0f 34", mode: 64, errHas: "64-bit code", inst: "sysenter"},
		{name: "sysenter 16-bit", code: "0f 34", mode: 16, errHas: "16-bit code"},
		{name: "gs call 64-bit rip-relative", code: "65 ff 15 10 00 00 00", mode: 64, errHas: "not the vDSO call", inst: "callq *%gs:0x10(%rip)"},
		{name: "gs call 64-bit absolute", code: "65 ff 14 25 10 00 00 00", mode: 64, errHas: "not the vDSO call (call *%gs:0x10 in 32-bit code)", inst: "callq *%gs:0x10"},
		{name: "gs call 16-bit", code: "65 ff 15 10 00 00 00", mode: 16, errHas: "not the vDSO call", inst: "call *%gs:(%di)"},

		// Other instructions.
		{name: "nop", code: "90", mode: 32, errHas: "not a syscall instruction", inst: "nop"},
		{name: "ud2", code: "0f 0b", mode: 64, errHas: "not a syscall instruction", inst: "ud2"},
		{name: "int3", code: "cc", mode: 32, errHas: "not a syscall instruction", inst: "int3"},
		{name: "int 0x81", code: "cd 81", mode: 32, errHas: "only int $0x80", inst: "int $0x81"},
		{name: "int 0x3 long form", code: "cd 03", mode: 64, errHas: "only int $0x80"},
		{name: "sysret", code: "0f 07", mode: 64, errHas: "not a syscall instruction"},
		{name: "call gs:0x14", code: "65 ff 15 14 00 00 00", mode: 32, errHas: "not the vDSO call", inst: "call *%gs:0x14"},
		{name: "call fs:0x10", code: "64 ff 15 10 00 00 00", mode: 32, errHas: "not the vDSO call", inst: "call *%fs:0x10"},
		{name: "call ds:0x10", code: "ff 15 10 00 00 00", mode: 32, errHas: "not the vDSO call"},
		{name: "call gs:0x10(eax)", code: "65 ff 50 10", mode: 32, errHas: "not the vDSO call"},
		{name: "jmp gs:0x10", code: "65 ff 25 10 00 00 00", mode: 32, errHas: "not a syscall instruction"},
		{name: "direct call", code: "e8 00 00 00 00", mode: 32, errHas: "not the vDSO call", inst: "call .+0x0"},

		// Truncated and undecodable bytes.
		{name: "empty", code: "", mode: 64, errHas: "no code bytes", truncated: true},
		{name: "cd alone", code: "cd", mode: 32, errHas: "truncated", truncated: true},
		{name: "cd alone 64-bit", code: "cd", mode: 64, errHas: "truncated", truncated: true},
		{name: "0f alone", code: "0f", mode: 64, errHas: "truncated", truncated: true},
		{name: "0f alone 32-bit", code: "0f", mode: 32, errHas: "truncated", truncated: true},
		{name: "data16 alone", code: "66", mode: 64, errHas: "truncated", truncated: true},
		{name: "data16 0f 32-bit", code: "66 0f", mode: 32, errHas: "truncated", truncated: true},
		{name: "short vdso call", code: "65 ff 15 10 00", mode: 32, errHas: "truncated", truncated: true},
		{name: "push es in 64-bit", code: "06", mode: 64, errHas: "undecodable"},
		{name: "fifteen prefixes", code: "2e 2e 2e 2e 2e 2e 2e 2e 2e 2e 2e 2e 2e 2e 0f 05", mode: 64, errHas: "undecodable"},
		{name: "rex then legacy prefix", code: "48 66 0f 05", mode: 64, errHas: "undecodable"},

		// Bad modes.
		{name: "mode 0", code: "cd 80", mode: 0, errHas: "bad CPU mode 0"},
		{name: "mode 8", code: "cd 80", mode: 8, errHas: "bad CPU mode 8"},
		{name: "mode 128", code: "0f 05", mode: 128, errHas: "bad CPU mode"},
		{name: "mode -32", code: "0f 05", mode: -32, errHas: "bad CPU mode"},
	}
}

func TestDecodeSite(t *testing.T) {
	for _, tc := range siteCases() {
		t.Run(tc.name, func(t *testing.T) {
			code := hexCode(t, tc.code)
			s, err := DecodeSite(code, tc.mode)
			if tc.kind == SiteInvalid {
				checkRejected(t, tc, code, s, err)
				return
			}
			if err != nil {
				t.Fatalf("DecodeSite(% x, %d): %v", code, tc.mode, err)
			}
			if s.Kind != tc.kind || s.Len != tc.len || s.Mode != tc.mode {
				t.Errorf("got kind %v len %d mode %d, want kind %v len %d mode %d", s.Kind, s.Len, s.Mode, tc.kind, tc.len, tc.mode)
			}
			resume := tc.resume
			if resume == 0 {
				resume = tc.len
			}
			if s.Resume != resume {
				t.Errorf("Resume = %d, want %d", s.Resume, resume)
			}
			if tc.text != "" && s.Text != tc.text {
				t.Errorf("Text = %q, want %q", s.Text, tc.text)
			}
			wantABI, wantBits := "x86_32", abi.Bits32
			if tc.kind == SiteSyscall {
				wantABI, wantBits = "x86_64", abi.Bits64
			}
			if s.ABI.Name != wantABI || s.ABI.Bits != wantBits {
				t.Errorf("ABI = %s/%v, want %s/%v", s.ABI.Name, s.ABI.Bits, wantABI, wantBits)
			}
		})
	}
}

func checkRejected(t *testing.T, tc siteCase, code []byte, s Site, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("DecodeSite(% x, %d) = %v, want an error", code, tc.mode, s)
	}
	if s != (Site{}) {
		t.Errorf("got site %+v with the error, want the zero Site", s)
	}
	var se *SiteError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SiteError", err, err)
	}
	if !strings.Contains(se.Reason, tc.errHas) {
		t.Errorf("Reason %q does not contain %q", se.Reason, tc.errHas)
	}
	if tc.inst != "" && se.Inst != tc.inst {
		t.Errorf("Inst = %q, want %q", se.Inst, tc.inst)
	}
	if se.Truncated != tc.truncated {
		t.Errorf("Truncated = %v, want %v", se.Truncated, tc.truncated)
	}
	if se.Mode != tc.mode {
		t.Errorf("Mode = %d, want %d", se.Mode, tc.mode)
	}
	if !bytes.Equal(se.Code, code[:min(len(code), MaxInstLen)]) {
		t.Errorf("Code = % x, want the first bytes of % x", se.Code, code)
	}
	// The message names the bytes and what was found.
	msg := err.Error()
	if len(code) > 0 && !strings.Contains(msg, hex.EncodeToString(code[:1])) {
		t.Errorf("message %q does not show the bytes", msg)
	}
	if se.Inst != "" && !strings.Contains(msg, se.Inst) {
		t.Errorf("message %q does not name the instruction %q", msg, se.Inst)
	}
}

// TestDecodeSiteArgLocations checks each kind's argument locations, the
// place a mistake in the calling conventions would show.
func TestDecodeSiteArgLocations(t *testing.T) {
	tests := []struct {
		code string
		mode int
		want string
	}{
		{"cd 80", 32, "ebx ecx edx esi edi ebp"},
		{"cd 80", 64, "ebx ecx edx esi edi ebp"},
		{"0f 05", 64, "rdi rsi rdx r10 r8 r9"},
		{"0f 05", 32, "ebx ebp edx esi edi [esp]"},
		{"0f 34", 32, "ebx ecx edx esi edi [ebp]"},
		{"65 ff 15 10 00 00 00", 32, "ebx ecx edx esi edi ebp"},
	}
	for _, tt := range tests {
		s, err := DecodeSite(hexCode(t, tt.code), tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range s.Args {
			got = append(got, l.String())
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%s in %d-bit code: args at %q, want %q", tt.code, tt.mode, g, tt.want)
		}
	}
}

func TestDecodeSiteLongInput(t *testing.T) {
	// Only the first MaxInstLen bytes go into an error.
	code := bytes.Repeat([]byte{0x90}, 40)
	_, err := DecodeSite(code, 64)
	var se *SiteError
	if !errors.As(err, &se) || len(se.Code) != MaxInstLen {
		t.Fatalf("got %v, want a *SiteError with %d bytes", err, MaxInstLen)
	}
	// The error keeps its own copy of the bytes.
	_, err = DecodeSite(code, 64)
	errors.As(err, &se)
	code[0] = 0xcc
	if se.Code[0] != 0x90 {
		t.Error("SiteError.Code aliases the caller's slice")
	}
}

func TestSiteKindString(t *testing.T) {
	tests := []struct {
		k     SiteKind
		s     string
		valid bool
	}{
		{SiteInvalid, "invalid", false},
		{SiteInt80, "int80", true},
		{SiteSyscall, "syscall", true},
		{SiteSyscall32, "syscall32", true},
		{SiteSysenter, "sysenter", true},
		{SiteVDSOCall, "vdso-call", true},
		{SiteVDSOCall + 1, "SiteKind(6)", false},
		{255, "SiteKind(255)", false},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.s {
			t.Errorf("SiteKind(%d).String() = %q, want %q", uint8(tt.k), got, tt.s)
		}
		if got := tt.k.Valid(); got != tt.valid {
			t.Errorf("SiteKind(%d).Valid() = %v, want %v", uint8(tt.k), got, tt.valid)
		}
	}
}

func TestSiteString(t *testing.T) {
	s, err := DecodeSite([]byte{0xcd, 0x80}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "int $0x80 (int80, 64-bit code, x86_32)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// fuzzMode maps a fuzzer byte to a CPU mode: mostly 16, 32 or 64, and a
// bad mode now and then.
func fuzzMode(sel uint8) int {
	if sel >= 250 {
		return int(sel) - 250 + 1 // 1..6: all bad
	}
	return [...]int{16, 32, 64}[sel%3]
}

// fuzzMem is a Loader that answers every load with a value derived from
// the address, or faults for odd addresses.
type fuzzMem struct{}

func (fuzzMem) Load32(addr uint64) (uint32, error) {
	if addr&1 != 0 {
		return 0, errTestFault
	}
	return uint32(addr) ^ 0x5a5a5a5a, nil
}

func FuzzDecodeSite(f *testing.F) {
	for _, tc := range siteCases() {
		code, err := hex.DecodeString(strings.ReplaceAll(tc.code, " ", ""))
		if err != nil {
			f.Fatal(err)
		}
		sel := uint8(250)
		switch tc.mode {
		case 16:
			sel = 0
		case 32:
			sel = 1
		case 64:
			sel = 2
		}
		f.Add(code, sel)
	}
	f.Fuzz(func(t *testing.T, code []byte, sel uint8) {
		mode := fuzzMode(sel)
		orig := append([]byte(nil), code...)
		s, err := DecodeSite(code, mode)
		if !bytes.Equal(code, orig) {
			t.Fatal("DecodeSite changed its input")
		}
		if (err == nil) != s.Kind.Valid() {
			t.Fatalf("err = %v but kind %v", err, s.Kind)
		}
		if err != nil {
			var se *SiteError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SiteError", err, err)
			}
			if s != (Site{}) {
				t.Fatalf("site %+v returned with error %v", s, err)
			}
			if se.Mode != mode || len(se.Code) > MaxInstLen || !bytes.HasPrefix(code, se.Code) {
				t.Fatalf("SiteError mode %d code % x for input % x mode %d", se.Mode, se.Code, code, mode)
			}
			if se.Truncated && len(code) >= MaxInstLen {
				t.Fatalf("truncated with %d bytes", len(code))
			}
			if se.Reason == "" || err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		checkSite(t, code, mode, s)
	})
}

// checkSite checks the invariants of a site DecodeSite accepted.
func checkSite(t *testing.T, code []byte, mode int, s Site) {
	t.Helper()
	if s.Mode != mode {
		t.Fatalf("mode %d, want %d", s.Mode, mode)
	}
	if s.Len < 2 || s.Len > len(code) || s.Len > MaxInstLen {
		t.Fatalf("Len %d for %d input bytes", s.Len, len(code))
	}
	if s.Resume < s.Len || s.Resume > len(code) {
		t.Fatalf("Resume %d, Len %d, input %d bytes", s.Resume, s.Len, len(code))
	}
	if s.Resume != s.Len && s.Kind != SiteSysenter && s.Kind != SiteSyscall32 {
		t.Fatalf("Resume %d != Len %d for %v", s.Resume, s.Len, s.Kind)
	}
	if s.Resume != s.Len && !bytes.Equal(code[s.Resume-2:s.Resume], []byte{0xcd, 0x80}) {
		t.Fatalf("Resume %d is not after an int $0x80 in % x", s.Resume, code)
	}
	if s.Text == "" {
		t.Fatal("empty Text")
	}
	inst := code[:s.Len]
	// The opcode bytes end the instruction, except for the call.
	tail := map[SiteKind][]byte{SiteInt80: {0xcd, 0x80}, SiteSyscall: {0x0f, 0x05}, SiteSyscall32: {0x0f, 0x05}, SiteSysenter: {0x0f, 0x34}}
	if want, ok := tail[s.Kind]; ok && !bytes.HasSuffix(inst, want) {
		t.Fatalf("%v site % x does not end in % x", s.Kind, inst, want)
	}
	if s.Kind == SiteVDSOCall && (bytes.IndexByte(inst, 0x65) < 0 || bytes.IndexByte(inst, 0xff) < 0) {
		t.Fatalf("vdso call % x without gs prefix or ff opcode", inst)
	}
	// Where each kind may occur, and its ABI.
	switch s.Kind {
	case SiteSyscall:
		if mode != 64 || s.ABI.Name != "x86_64" {
			t.Fatalf("%v in mode %d with ABI %s", s.Kind, mode, s.ABI.Name)
		}
	case SiteSyscall32, SiteSysenter, SiteVDSOCall:
		if mode != 32 || s.ABI.Name != "x86_32" {
			t.Fatalf("%v in mode %d with ABI %s", s.Kind, mode, s.ABI.Name)
		}
	case SiteInt80:
		if s.ABI.Name != "x86_32" {
			t.Fatalf("%v with ABI %s", s.Kind, s.ABI.Name)
		}
	}
	for i, l := range s.Args {
		if l.Mem != (i == 5 && (s.Kind == SiteSysenter || s.Kind == SiteSyscall32)) {
			t.Fatalf("%v arg%d at %v", s.Kind, i+1, l)
		}
		if l.Bits != s.ABI.Bits {
			t.Fatalf("%v arg%d is %v in a %v ABI", s.Kind, i+1, l.Bits, s.ABI.Bits)
		}
	}
	// The instruction alone decodes the same; so does it with other
	// bytes after it.
	for _, c := range [][]byte{inst, append(append([]byte(nil), inst...), 0x0f, 0x0b)} {
		again, err := DecodeSite(c, mode)
		if err != nil || again.Kind != s.Kind || again.Len != s.Len || again.Text != s.Text {
			t.Fatalf("% x decodes to %v, %v; in % x it was %v", c, again, err, code, s)
		}
	}
	// Reading never panics; only the stack-resident kinds can fault.
	r := distinctRegs(240)
	r.RSP |= 1 // an odd address faults in fuzzMem
	_, err := s.ReadArgs(&r, fuzzMem{})
	if (err != nil) != (s.Kind == SiteSyscall32) {
		t.Fatalf("%v: ReadArgs error %v", s.Kind, err)
	}
	if ip := s.NextIP(&r); ip == r.RIP {
		t.Fatalf("NextIP did not advance")
	}
}
