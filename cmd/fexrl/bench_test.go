//go:build linux && amd64

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// BenchmarkQemu runs guests under Debian's stock QEMU and under the
// patched QEMU with fexrl (`fexrl qemu`, with and without the guard),
// alternating, and reports each one's wall time per run and the ratios
// to stock QEMU measured in the same run: the churn guest (bench_threads:
// 5,000 threads, each taking and releasing a robust mutex), a CPU-bound
// guest (bench_cpu), and a trivial guest's startup and peak RSS.
func BenchmarkQemu(b *testing.B) {
	qdir := qemuDirForTest(b)
	cases := []struct {
		name, guest string
		args        []string
		want        string
	}{
		{"churn", "bench_threads", []string{"5000"}, "done 5000\n"},
		{"cpu", "bench_cpu", []string{"100000"}, "done 100000 cd37f60b\n"},
		{"startup", "bench_cpu", []string{"0"}, "done 0 811c9dc5\n"},
	}
	for _, variant := range []string{"i386-static", "x86_64-static"} {
		for _, c := range cases {
			b.Run(c.name+"/"+variant, func(b *testing.B) {
				ctx := context.Background()
				cache, err := fixtures.DefaultCacheDir()
				if err != nil {
					b.Fatal(err)
				}
				bin, err := fixtures.Build(ctx, cache, c.guest, variant)
				if err != nil {
					b.Fatal(err)
				}
				stock := "qemu-i386-static"
				if strings.HasPrefix(variant, "x86_64") {
					stock = "qemu-x86_64-static"
				}
				fexrl := fexrlBinary(b)
				emu := filepath.Join(qdir, "qemu-x86_64")
				if strings.HasPrefix(variant, "i386") {
					emu = filepath.Join(qdir, "qemu-i386")
				}
				runs := []struct {
					name string
					argv []string
					sum  time.Duration
					rss  int64
				}{
					{name: "stock", argv: append([]string{stock, bin}, c.args...)},
					// The patched QEMU with its client off (no FEXRL_SOCKET):
					// the same build, so the ratios to it are fexrl's alone
					// (Debian's build differs in its configuration).
					{name: "patched-off", argv: append([]string{emu, bin}, c.args...)},
					{name: "fexrl", argv: append([]string{fexrl, "qemu", "--qemu-dir", qdir, "--", bin}, c.args...)},
					{name: "fexrl-noguard", argv: append([]string{fexrl, "qemu", "--qemu-dir", qdir, "--guard", "off", "--", bin}, c.args...)},
				}
				for i := 0; i < b.N; i++ {
					for k := range runs {
						r := &runs[k]
						cmd := exec.Command(r.argv[0], r.argv[1:]...)
						cmd.Env = withoutSocket(os.Environ())
						start := time.Now()
						out, err := cmd.Output()
						r.sum += time.Since(start)
						if err != nil || string(out) != c.want {
							b.Fatalf("%v: %v, %q", r.argv, err, out)
						}
						if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > r.rss {
							r.rss = ru.Maxrss
						}
					}
				}
				n := float64(b.N)
				for _, r := range runs {
					b.ReportMetric(float64(r.sum.Microseconds())/n/1000, r.name+"-ms/run")
					if c.name == "startup" {
						b.ReportMetric(float64(r.rss), r.name+"-maxrss-KiB")
					}
					if r.name != "stock" && r.name != "patched-off" {
						b.ReportMetric(float64(r.sum)/float64(runs[1].sum), r.name+"/patched-off")
					}
					if r.name != "stock" {
						b.ReportMetric(float64(r.sum)/float64(runs[0].sum), r.name+"/stock")
					}
				}
			})
		}
	}
}

// withoutSocket drops FEXRL_SOCKET from env.
func withoutSocket(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "FEXRL_SOCKET=") {
			out = append(out, e)
		}
	}
	return out
}
