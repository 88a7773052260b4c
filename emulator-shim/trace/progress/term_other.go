//go:build !linux

package progress

func isTerminal(uintptr) bool { return false }
