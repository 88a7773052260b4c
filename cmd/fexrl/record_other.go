//go:build !(linux && amd64)

package main

import "fmt"

func runRecord(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl record: the ptrace adapter runs x86 guests on an x86-64 Linux host only; replay and import work everywhere")
	return 1
}
