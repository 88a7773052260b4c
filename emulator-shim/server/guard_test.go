//go:build linux

package server_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/internal/testexec"
)

// TestGuardWalksAKilledEmulator: an emulator SIGKILLed holding a shared
// robust mutex reports nothing; with the guard its list is walked at its
// exit stop and the watcher in another process wakes with OWNER_DIED.
// Without the guard the watcher times out: the baseline.
func TestGuardWalksAKilledEmulator(t *testing.T) {
	if w := testexec.Wrapper(); len(w) > 0 {
		t.Skipf("the guard traces the emulator with ptrace, which %s does not emulate (the arm64 server is tested with the guard off)", w[0])
	}
	for _, guard := range []bool{true, false} {
		name := "guard"
		if !guard {
			name = "no-guard"
		}
		t.Run(name, func(t *testing.T) {
			addr := "@fexrl-test-guard-" + name + "-" + t.Name()
			ln, err := server.Listen(addr + "x")
			if err != nil {
				t.Fatal(err)
			}
			srv := server.New(server.Config{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(), "FEXRL_SOCKET="+addr+"x")
			files := []*os.File{os.Stdin, pw, pw}
			var ws interface{ Signaled() bool }
			if guard {
				g, err := srv.StartGuarded([]string{emulatorBin(t), "sigkill"}, env, files)
				if err != nil {
					t.Fatal(err)
				}
				pw.Close()
				st, err := g.Wait()
				if err != nil {
					t.Fatal(err)
				}
				ws = st
			} else {
				p, err := os.StartProcess(emulatorBin(t), []string{emulatorBin(t), "sigkill"}, &os.ProcAttr{Env: env, Files: files})
				if err != nil {
					t.Fatal(err)
				}
				pw.Close()
				st, err := p.Wait()
				if err != nil {
					t.Fatal(err)
				}
				ws = st.Sys().(interface{ Signaled() bool })
			}
			var out strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := pr.Read(buf)
				out.WriteString(string(buf[:n]))
				if err != nil {
					break
				}
			}
			if !ws.Signaled() {
				t.Errorf("the emulator was not killed by a signal")
			}
			want := "watcher: woken, word 0xc0000000"
			if !guard {
				want = "watcher: not woken (timed out)"
			}
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
			if st := srv.Status(); guard && (st.Guard != "on" || st.GuardWalks != 1) {
				t.Errorf("status: guard %q, %d walks", st.Guard, st.GuardWalks)
			}
		})
	}
}
