//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/internal/logging"
)

const serveSynopsis = "[--socket ADDR] [--ready-fd N] [--tree PID] [--log-level L] [--log-json] [--robust-list2] [--unbounded] [--kernel-unlock-rule]"

// runServe is `fexrl serve`: the server one emulated process tree's
// emulators connect to with the C client.
func runServe(e *env, args []string) int {
	fs := newFlags(e, "serve", serveSynopsis)
	var (
		sock, logLevel                string
		readyFD, tree                 int
		logJSON, robust2, unb, kernel bool
	)
	fs.StringVar(&sock, "socket", "", "listen on `ADDR`: a path, or @name for the abstract namespace (default @fexrl-PID)")
	fs.IntVar(&readyFD, "ready-fd", -1, "write one byte to file descriptor `N` once listening, then close it")
	fs.IntVar(&tree, "tree", 0, "serve the process tree of `PID`: stop once no client is connected and no process of the tree lives")
	fs.StringVar(&logLevel, "log-level", "", "log level: "+logging.Levels+" (default warn)")
	fs.BoolVar(&logJSON, "log-json", false, "log JSON lines instead of text")
	fs.BoolVar(&robust2, "robust-list2", false, "answer the proposed set_robust_list2/get_robust_list2 (default: the emulator's ENOSYS)")
	fs.BoolVar(&unb, "unbounded", false, "walk lists past the kernel's 2048-entry limit, stopping on cycles")
	fs.BoolVar(&kernel, "kernel-unlock-rule", false, "keep the kernel's pending-op rule for a thread killed inside a robust unlock")
	if help, err := parseFlags(fs, args); help || err != nil {
		return exitCode(e, "serve", err)
	}
	if err := noArgs(e, fs); err != nil {
		return 2
	}
	log, err := logging.New(logLevel, logJSON, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl serve: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if sock == "" {
		sock = "@fexrl-" + strconv.Itoa(os.Getpid())
	}
	ln, err := server.Listen(sock)
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl serve: %v\n", err)
		return 1
	}
	cfg := server.Config{Logger: log}
	cfg.Shim.NoRobustList2 = !robust2
	cfg.Shim.Walk.Unbounded = unb
	cfg.Shim.KernelUnlockRule = kernel
	srv := server.New(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if readyFD >= 0 {
		f := os.NewFile(uintptr(readyFD), "ready")
		if f == nil {
			fmt.Fprintf(e.stderr, "fexrl serve: --ready-fd %d is not open\n", readyFD)
			ln.Close()
			return 2
		}
		_, werr := f.Write([]byte{'1'})
		f.Close()
		if werr != nil {
			fmt.Fprintf(e.stderr, "fexrl serve: --ready-fd %d: %v\n", readyFD, werr)
			ln.Close()
			return 2
		}
	}
	log.Info("fexrl server listening")
	if tree > 0 {
		err = srv.ServeTree(ctx, ln, int32(tree))
	} else {
		err = srv.Serve(ctx, ln)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "fexrl serve: %v\n", err)
		return 1
	}
	return 0
}
