//go:build !(linux && amd64)

package main

import "fmt"

func runDemo(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl demo: runs x86 guests on an x86-64 Linux host only")
	return 1
}
