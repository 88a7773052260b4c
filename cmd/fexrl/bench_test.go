//go:build linux && amd64

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fexrl/fexrl/fixtures"
	"github.com/fexrl/fexrl/internal/testexec"
)

// BenchmarkGuestThreads runs the bench_threads guest (5,000 threads
// created and joined four at a time, each taking and releasing a robust
// mutex) natively and through fexrl run, alternating, and reports both
// wall times per run and their ratio, measured in the same run. Run it
// with scripts/bench.
func BenchmarkGuestThreads(b *testing.B) {
	for _, variant := range []string{"x86_64-static", "i386-static", "x86_64-dynamic"} {
		b.Run(variant, func(b *testing.B) {
			if strings.HasPrefix(variant, "i386") {
				testexec.RequireI386(b)
			}
			ctx := context.Background()
			cache, err := fixtures.DefaultCacheDir()
			if err != nil {
				b.Fatal(err)
			}
			bin, err := fixtures.Build(ctx, cache, "bench_threads", variant)
			if err != nil {
				b.Fatal(err)
			}
			fexrl := fexrlBinary(b)
			var native, emulated, nativeMode time.Duration
			for i := 0; i < b.N; i++ {
				for _, run := range []struct {
					sum  *time.Duration
					argv []string
				}{
					{&native, []string{bin, "5000"}},
					{&emulated, []string{fexrl, "run", "--", bin, "5000"}},
					{&nativeMode, []string{fexrl, "run", "--mode", "native", "--", bin, "5000"}},
				} {
					start := time.Now()
					res, err := fixtures.Run(ctx, run.argv[0], run.argv[1:]...)
					*run.sum += time.Since(start)
					if err != nil || res.ExitCode != 0 || string(res.Stdout) != "done 5000\n" {
						b.Fatalf("%v: %v, exit %d, %q %s", run.argv, err, res.ExitCode, res.Stdout, res.Stderr)
					}
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(native.Milliseconds())/n, "native-ms/run")
			b.ReportMetric(float64(emulated.Milliseconds())/n, "fexrl-ms/run")
			b.ReportMetric(float64(nativeMode.Milliseconds())/n, "fexrl-native-mode-ms/run")
			b.ReportMetric(float64(emulated)/float64(native), "fexrl/native")
			b.ReportMetric(float64(nativeMode)/float64(native), "tracing-only/native")
		})
	}
}
