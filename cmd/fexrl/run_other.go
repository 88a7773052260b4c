//go:build !(linux && amd64)

package main

import "fmt"

func runRun(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl run: the ptrace adapter runs x86 guests on an x86-64 Linux host only")
	return 1
}
