package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/abi/archs"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: fexrl"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"abi", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"abi", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"abi", "--arch", "mips"}, 2, `unknown architecture "mips"`},
		{[]string{"probe", "x"}, 2, `unexpected argument "x"`},
		{[]string{"abi", "-h"}, 0, "usage: fexrl abi"},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("fexrl %v: code %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	if code, stdout, _ := runCmd(t, "help"); code != 0 || !strings.Contains(stdout, "abi") {
		t.Errorf("fexrl help: %d %q", code, stdout)
	}
}

func TestABIText(t *testing.T) {
	code, out, _ := runCmd(t, "abi")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, a := range archs.All() {
		if !strings.Contains(out, a.Name+" (GOARCH "+a.GOARCH) {
			t.Errorf("output lacks %s header", a.Name)
		}
	}
	for _, want := range []string{"set_robust_list   311", "set_robust_list   273", "set_robust_list   99", "fork              -"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestABIJSON(t *testing.T) {
	for _, a := range archs.All() {
		code, out, stderr := runCmd(t, "abi", "--json", "--arch", a.Name)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got []abiJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v\n%s", a.Name, err, out)
		}
		if len(got) != 1 || got[0].Name != a.Name || got[0].RobustHead != a.RobustHead || got[0].PtrSize != a.PtrSize() {
			t.Fatalf("%s: got %+v", a.Name, got)
		}
		for _, s := range a.Syscalls.Named() {
			if got[0].Syscalls[s.Name] != s.Nr {
				t.Errorf("%s: %s = %d in JSON, %d in table", a.Name, s.Name, got[0].Syscalls[s.Name], s.Nr)
			}
		}
	}
}

func TestProbe(t *testing.T) {
	code, out, _ := runCmd(t, "probe", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var caps map[string]any
	if err := json.Unmarshal([]byte(out), &caps); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"set_robust_list2", "set_robust_list", "bits", "futex_robust_unlock"} {
		if _, ok := caps[k]; !ok {
			t.Errorf("probe JSON lacks %q: %s", k, out)
		}
	}
	if code, out, _ := runCmd(t, "probe"); code != 0 || !strings.Contains(out, "back end:") || !strings.Contains(out, "FUTEX_ROBUST_UNLOCK: ") {
		t.Errorf("probe text: %d %q", code, out)
	}
}
