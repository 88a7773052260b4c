//go:build !linux

package main

import "fmt"

func runServe(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl serve: only on Linux")
	return 2
}

func runStatus(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl status: only on Linux")
	return 2
}

func runQemu(e *env, args []string) int {
	fmt.Fprintln(e.stderr, "fexrl qemu: only on Linux")
	return 2
}
