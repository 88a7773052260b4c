//go:build linux

package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/internal/testexec"
)

// repoDir is the repository's root.
func repoDir(t testing.TB) string {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(self), "..", "..")
}

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// emulatorBin builds fixtures/client/emulator.c with the C client, as an
// emulator would (-std=c11 -Wall -Wextra -Werror).
func emulatorBin(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fexrl-client-test")
		if err != nil {
			buildOnce.err = err
			return
		}
		root := repoDir(t)
		bin := filepath.Join(dir, "emulator")
		cmd := exec.Command("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-pthread",
			"-I", filepath.Join(root, "emulator-shim", "client"), "-o", bin,
			filepath.Join(root, "fixtures", "client", "emulator.c"),
			filepath.Join(root, "emulator-shim", "client", "fexrl_client.c"))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("gcc: %v\n%s", err, out)
			return
		}
		buildOnce.bin = bin
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// startServer runs a server on a fresh abstract socket until the test
// ends.
func startServer(t testing.TB, cfg server.Config) (string, *server.Server) {
	addr := fmt.Sprintf("@fexrl-test-%d-%s-%d", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	ln, err := server.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr, srv
}

// runEmulator runs one scenario of the C test emulator against addr.
func runEmulator(t testing.TB, addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, emulatorBin(t), args...)
	cmd.Env = append(os.Environ(), "FEXRL_SOCKET="+addr)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("hung: %v", ctx.Err())
	}
	return string(out), err
}

// TestCEmulator runs the C test emulator's scenarios on the client
// against a real server: real pthreads as guest threads, waiters blocked
// in FUTEX_WAIT, fork, exec, hostile lists.
func TestCEmulator(t *testing.T) {
	lives := "100000"
	if testing.Short() || raceEnabled || len(testexec.Wrapper()) > 0 {
		// The race detector, or the server under qemu-aarch64, is ten
		// times slower.
		lives = "2000"
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"wake32", []string{"wake32"}, []string{"wake32: waiter woken 1, word 0xc0000000, fexrl marked 1, woke 1"}},
		{"wake64", []string{"wake64"}, []string{"wake64: waiter woken 1, word 0xc0000000, fexrl marked 1, woke 1"}},
		{"fork", []string{"fork"}, []string{"fork child: fexrl marked 1, woke 1", "fork: parent woken 1, word 0xc0000000, child exit 0"}},
		{"lives", []string{"lives", lives}, []string{"lives: " + lives + " thread lives, " + lives + " marked, 0 failed"}},
		{"fork-busy", []string{"fork-busy", "20"}, []string{"fork-busy: 20 of 20 children fine"}},
		{"exec-failed", []string{"exec-failed"}, []string{"exec-failed: execv failed (No such file or directory), word 0x8", ", 0 marked"}},
		{"exec", []string{"exec"}, []string{"exec: the watcher was woken with OWNER_DIED"}},
		{"hostile", []string{"hostile"}, []string{"hostile: 1 list(s), 0 marked, 1 fault(s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startServer(t, server.Config{})
			out, err := runEmulator(t, addr, tc.args...)
			if err != nil {
				t.Fatalf("emulator %v: %v\n%s", tc.args, err, out)
			}
			for _, w := range append(tc.want, "ok\n") {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestClientWithoutServer: no server at the address, the client is off
// and the emulator's own answer stands.
func TestClientWithoutServer(t *testing.T) {
	out, err := runEmulator(t, "@fexrl-nobody-listens-here", "off")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"cannot reach the fexrl server at @fexrl-nobody-listens-here", "off: set_robust_list left to the emulator", "ok\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// startEmulator starts a scenario that waits for its standard input to
// close, and returns once it printed a line starting with ready.
func startEmulator(t *testing.T, addr, ready string, args ...string) (*exec.Cmd, func() string, string) {
	cmd := exec.Command(emulatorBin(t), args...)
	cmd.Env = append(os.Environ(), "FEXRL_SOCKET="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	lines := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := pr.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i+1]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	var first string
	timeout := time.After(time.Minute)
	for first == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the emulator ended before %q:\n%s", ready, out.String())
			}
			out.WriteString(l)
			if strings.HasPrefix(l, ready) {
				first = l
			}
		case <-timeout:
			t.Fatalf("no %q line:\n%s", ready, out.String())
		}
	}
	finish := func() string {
		stdin.Close()
		for l := range lines {
			out.WriteString(l)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("emulator %v: %v", args, err)
		}
		return out.String()
	}
	return cmd, finish, first
}

// TestStatusShowsHeldLock: fexrl status's view of a running guest
// thread that holds a robust mutex, and a pending lock.
func TestStatusShowsHeldLock(t *testing.T) {
	if w := testexec.Wrapper(); len(w) > 0 {
		// Status reads the emulator's memory with process_vm_readv.
		var b [4]byte
		local := []unix.Iovec{{Base: &b[0], Len: 4}}
		if _, err := unix.ProcessVMReadv(os.Getpid(), local, []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&b[0])), Len: 4}}, 0); err == unix.ENOSYS {
			t.Skipf("%s does not emulate process_vm_readv, which status reads the emulator's memory with", w[0])
		}
	}
	addr, _ := startServer(t, server.Config{})
	cmd, finish, line := startEmulator(t, addr, "holding:", "hold")
	var tid int
	var word, pending uint64
	if _, err := fmt.Sscanf(line, "holding: tid %d, word %v, pending word %v", &tid, &word, &pending); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	st, err := server.QueryStatus(addr)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range st.Processes {
		if int(p.PID) != cmd.Process.Pid {
			continue
		}
		for _, tk := range p.Tasks {
			for _, l := range tk.Lists {
				if int(tk.TID) != tid || l.Name != "compat" || l.Bits != 32 {
					continue
				}
				if len(l.Held) != 1 || l.Held[0].Word != word || l.Held[0].Value != uint32(tid)|0x80000000 {
					t.Errorf("held: %+v, want word %#x", l.Held, word)
				}
				if l.Pending == nil || l.Pending.Word != pending || l.Pending.Owned {
					t.Errorf("pending: %+v, want word %#x not owned", l.Pending, pending)
				}
				found = true
			}
		}
	}
	if !found {
		t.Errorf("status has no compat list of tid %d: %+v", tid, st)
	}
	if out := finish(); !strings.Contains(out, "hold: 1 marked") {
		t.Errorf("after status the death was not handled:\n%s", out)
	}
}

// TestServerGone: the server stops while an emulator runs; the client
// turns off with one line and the emulator's own answers stand.
func TestServerGone(t *testing.T) {
	addr := fmt.Sprintf("@fexrl-test-gone-%d-%d", os.Getpid(), time.Now().UnixNano())
	ln, err := server.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.New(server.Config{}).Serve(ctx, ln) }()
	_, finish, _ := startEmulator(t, addr, "gone: first", "gone")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := finish()
	for _, w := range []string{"gone: first call handled 1 (ret 0)", "gone: then handled 0, 0; thread_exit -107; enabled 0", "ok\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "the fexrl server is gone"); n != 1 {
		t.Errorf("%d lines say the server is gone, want 1:\n%s", n, out)
	}
}

// hostArch is the GOARCH of the machine the tests run on.
func hostArch(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOHOSTARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestClientAutostart: an emulator with no launcher (no FEXRL_SOCKET)
// and FEXRL_CLIENT_AUTOSTART starts `fexrl serve` for its tree itself;
// the forked child finds it through the environment, and the server ends
// once the tree has.
func TestClientAutostart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fexrl")
	// The emulator is a host program and execs the server itself: build
	// it for the host (also when these tests run as arm64 under QEMU).
	build := exec.Command("go", "build", "-o", bin, "github.com/fexrl/fexrl/cmd/fexrl")
	build.Env = append(os.Environ(), "GOARCH="+hostArch(t))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(emulatorBin(t), "fork")
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "FEXRL_SOCKET=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "EMULATOR_AUTOSTART=1", "FEXRL_SERVER="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"fork child: fexrl marked 1, woke 1", "fork: parent woken 1, word 0xc0000000", "ok\n"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// The server serves --tree <the emulator's pid>: it must end now.
	tree := "--tree\x00" + strconv.Itoa(cmd.Process.Pid) + "\x00"
	deadline := time.Now().Add(30 * time.Second)
	for {
		alive := false
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			if b, err := os.ReadFile("/proc/" + p.Name() + "/cmdline"); err == nil && strings.Contains(string(b), tree) {
				alive = true
			}
		}
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the autostarted server outlived its tree")
		}
		time.Sleep(10 * time.Millisecond) // polling /proc for the server's end, bounded by the deadline
	}
}
