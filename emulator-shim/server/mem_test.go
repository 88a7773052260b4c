//go:build linux

package server_test

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fexrl/fexrl/abi/x86_32"
	"github.com/fexrl/fexrl/emulator-shim/protocol"
	"github.com/fexrl/fexrl/emulator-shim/server"
	"github.com/fexrl/fexrl/translator"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkServerMemory reports the server's heap per live guest task
// (registered, with a 32-bit list) and per connected emulator process
// (a connection that said hello), measured against the same server
// before them.
func BenchmarkServerMemory(b *testing.B) {
	const tasks, procs = 20000, 64
	for i := 0; i < b.N; i++ {
		addr, srv := startServer(b, server.Config{})
		base := heapInUse()
		sh := srv.Shim()
		for tid := int32(1); tid <= tasks; tid++ {
			sh.TaskCreated(1, 1000+tid, 1)
			c := translator.Call{ABI: x86_32.Arch(), Nr: x86_32.Arch().Syscalls.SetRobustList, Args: [6]uint64{0x1000, 12}}
			if _, ok := sh.Syscall(1000+tid, c, nil); !ok {
				b.Fatal("set_robust_list not handled")
			}
		}
		withTasks := heapInUse()
		sa := &unix.SockaddrUnix{Name: addr}
		var fds []int
		for p := 0; p < procs; p++ {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.Connect(fd, sa); err != nil {
				b.Fatal(err)
			}
			msg := protocol.AppendHello(nil, protocol.Hello{Version: protocol.Version, PID: int32(os.Getpid()), GuestBits: 32})
			if _, err := unix.Write(fd, msg); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, protocol.MaxMessage)
			if _, err := unix.Read(fd, buf); err != nil {
				b.Fatal(err)
			}
			fds = append(fds, fd)
		}
		withProcs := heapInUse()
		b.ReportMetric(float64(withTasks-base)/tasks, "bytes/task")
		b.ReportMetric(float64(withProcs-withTasks)/procs, "bytes/process")
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}
