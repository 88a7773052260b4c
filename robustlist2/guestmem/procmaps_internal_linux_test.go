package guestmem

import (
	"errors"
	"os"
	"testing"
)

func TestParseMaps(t *testing.T) {
	text := `00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon
7f0e1c000000-7f0e1c021000 rw-s 00000000 00:01 1032        /dev/zero (deleted)
7f0e1d000000-7f0e1d001000 rw-s 00003000 00:1a 77          /memfd:pool with space (deleted)
7f0e1e000000-7f0e1e001000 rw-p 00000000 00:00 0 
7ffd4b1a9000-7ffd4b1ca000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	vs, err := parseMaps([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []vma{
		{start: 0x400000, end: 0x452000, perms: "r-xp", dev: "08:02", inode: 173521, path: "/usr/bin/dbus-daemon"},
		{start: 0x7f0e1c000000, end: 0x7f0e1c021000, perms: "rw-s", dev: "00:01", inode: 1032, path: "/dev/zero (deleted)"},
		{start: 0x7f0e1d000000, end: 0x7f0e1d001000, perms: "rw-s", offset: 0x3000, dev: "00:1a", inode: 77, path: "/memfd:pool with space (deleted)"},
		{start: 0x7f0e1e000000, end: 0x7f0e1e001000, perms: "rw-p", dev: "00:00"},
		{start: 0x7ffd4b1a9000, end: 0x7ffd4b1ca000, perms: "rw-p", dev: "00:00", path: "[stack]"},
		{start: 0xffffffffff600000, end: 0xffffffffff601000, perms: "--xp", dev: "00:00", path: "[vsyscall]"},
	}
	if len(vs) != len(want) {
		t.Fatalf("parsed %d lines, want %d", len(vs), len(want))
	}
	for i := range want {
		if vs[i] != want[i] {
			t.Errorf("line %d = %+v\nwant %+v", i, vs[i], want[i])
		}
	}
	if !vs[1].shared() || vs[3].shared() || !vs[1].writable() || vs[5].readable() {
		t.Error("permission helpers")
	}
	for _, tt := range []struct {
		addr uint64
		want int
	}{{0x3fffff, -1}, {0x400000, 0}, {0x451fff, 0}, {0x452000, -1}, {0x7f0e1d000800, 2}, {0xffffffffff600fff, 5}, {0xffffffffff601000, -1}} {
		if got := findVMA(vs, tt.addr); got != tt.want {
			t.Errorf("findVMA(%#x) = %d, want %d", tt.addr, got, tt.want)
		}
	}
	for _, bad := range []string{
		"00400000 r-xp 00000000 08:02 1\n",
		"00400000-00300000 r-xp 00000000 08:02 1\n",
		"00400000-00500000 r-x 00000000 08:02 1\n",
		"00400000-00500000 r-xp 0000zz00 08:02 1\n",
		"00400000-00500000 r-xp 00000000 08:02\n",
		"0040000g-00500000 r-xp 00000000 08:02 1\n",
	} {
		if _, err := parseMaps([]byte(bad)); err == nil {
			t.Errorf("parseMaps(%q) succeeded", bad)
		}
	}
}

func TestReadMapsSelf(t *testing.T) {
	vs, err := readMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 3 {
		t.Fatalf("only %d mappings", len(vs))
	}
	for i := 1; i < len(vs); i++ {
		if vs[i].start < vs[i-1].end {
			t.Fatalf("maps not sorted at line %d", i)
		}
	}
	if _, err := readMaps(1 << 30); !errors.Is(err, ErrExited) {
		t.Fatalf("readMaps of a pid that does not exist: %v", err)
	}
}
