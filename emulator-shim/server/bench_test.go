//go:build linux

package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/fexrl/fexrl/emulator-shim/server"
)

// BenchmarkClient measures the C client against a real server, each
// against the kernel in the same run (the C test emulator's bench-rtt
// and bench-life scenarios): one round trip (a set_robust_list through
// the client, p50 and p99, against the kernel's own set_robust_list), and
// a guest thread's whole life through the client (created,
// set_robust_list, exit holding one lock: one walk, one word marked)
// against a real host thread doing the same with the kernel. It also
// reports a plain C ping-pong over a socketpair between two processes,
// the floor any out-of-process design pays on this machine.
func BenchmarkClient(b *testing.B) {
	addr, _ := startServer(b, server.Config{})
	b.Run("rtt", func(b *testing.B) {
		var p50, p99, kern float64
		for i := 0; i < b.N; i++ {
			out, err := runEmulator(b, addr, "bench-rtt", "20000")
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			var n, a, c, k int
			if _, err := fmt.Sscanf(lineWith(out, "bench-rtt:"), "bench-rtt: %d calls: client set_robust_list p50 %d ns p99 %d ns; kernel set_robust_list p50 %d ns",
				&n, &a, &c, &k); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			p50, p99, kern = p50+float64(a), p99+float64(c), kern+float64(k)
		}
		n := float64(b.N)
		b.ReportMetric(p50/n, "client-p50-ns")
		b.ReportMetric(p99/n, "client-p99-ns")
		b.ReportMetric(kern/n, "kernel-p50-ns")
	})
	b.Run("pingpong", func(b *testing.B) {
		var ns float64
		for i := 0; i < b.N; i++ {
			out, err := runEmulator(b, addr, "bench-pingpong", "20000")
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			var n, x int
			if _, err := fmt.Sscanf(lineWith(out, "bench-pingpong:"), "bench-pingpong: %d round trips: %d ns each", &n, &x); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			ns += float64(x)
		}
		b.ReportMetric(ns/float64(b.N), "socketpair-rtt-ns")
	})
	b.Run("thread-life", func(b *testing.B) {
		var kern, fexrl float64
		for i := 0; i < b.N; i++ {
			out, err := runEmulator(b, addr, "bench-life", "5000")
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			f := strings.Fields(lineWith(out, "bench-life:"))
			// bench-life: N lives: kernel K ns each (0 not marked), through fexrl F ns each: ...
			if len(f) < 13 {
				b.Fatalf("bad line: %s", out)
			}
			k, _ := strconv.Atoi(f[4])
			x, _ := strconv.Atoi(f[12])
			kern, fexrl = kern+float64(k), fexrl+float64(x)
		}
		b.ReportMetric(kern/float64(b.N), "kernel-life-ns")
		b.ReportMetric(fexrl/float64(b.N), "client-life-ns")
		b.ReportMetric((fexrl-kern)/kern, "added/kernel-life")
	})
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
