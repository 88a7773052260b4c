package guestmem

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// vma is one line of /proc/<pid>/maps.
type vma struct {
	start, end uint64 // [start, end)
	perms      string // "rw-s": read, write, execute, shared or private
	offset     uint64 // file offset of start
	dev        string // "maj:min"
	inode      uint64
	path       string
	obj        *objMap // fexrl's mapping of a shared vma, once made
}

// key identifies the mapping a vma describes across re-reads of maps.
type vmaKey struct {
	start, end, offset, inode uint64
	perms, dev                string
}

func (v *vma) key() vmaKey {
	return vmaKey{start: v.start, end: v.end, offset: v.offset, inode: v.inode, perms: v.perms, dev: v.dev}
}

func (v *vma) readable() bool { return v.perms[0] == 'r' }
func (v *vma) writable() bool { return v.perms[1] == 'w' }
func (v *vma) shared() bool   { return v.perms[3] == 's' }

// parseMaps parses the text of /proc/<pid>/maps.
func parseMaps(data []byte) ([]vma, error) {
	var out []vma
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 {
			continue
		}
		v, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("guestmem: maps line %q: %w", line, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseMapsLine parses "start-end perms offset dev inode [path]".
func parseMapsLine(line []byte) (vma, error) {
	var v vma
	var fields [5][]byte
	rest := line
	for i := range fields {
		rest = bytes.TrimLeft(rest, " ")
		f, r, _ := bytes.Cut(rest, []byte{' '})
		if len(f) == 0 {
			return v, errors.New("too few fields")
		}
		fields[i], rest = f, r
	}
	v.path = string(bytes.TrimLeft(rest, " "))
	lo, hi, ok := bytes.Cut(fields[0], []byte{'-'})
	if !ok {
		return v, errors.New("bad address range")
	}
	var err error
	if v.start, err = strconv.ParseUint(string(lo), 16, 64); err != nil {
		return v, err
	}
	if v.end, err = strconv.ParseUint(string(hi), 16, 64); err != nil {
		return v, err
	}
	if v.end <= v.start {
		return v, errors.New("empty address range")
	}
	if len(fields[1]) != 4 {
		return v, errors.New("bad permissions")
	}
	v.perms = string(fields[1])
	if v.offset, err = strconv.ParseUint(string(fields[2]), 16, 64); err != nil {
		return v, err
	}
	v.dev = string(fields[3])
	if v.inode, err = strconv.ParseUint(string(fields[4]), 10, 64); err != nil {
		return v, err
	}
	return v, nil
}

// readMaps reads and parses /proc/<pid>/maps. A process that is gone, or
// a zombie (whose maps are empty), is ErrExited.
func readMaps(pid int) ([]vma, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("%w: pid %d", ErrExited, pid)
		}
		return nil, fmt.Errorf("guestmem: %w", err)
	}
	vs, err := parseMaps(data)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: pid %d has no memory", ErrExited, pid)
	}
	return vs, nil
}

// findVMA returns the index of the vma holding addr in the sorted vs, or
// -1.
func findVMA(vs []vma, addr uint64) int {
	lo, hi := 0, len(vs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if vs[m].end <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(vs) && vs[lo].start <= addr {
		return lo
	}
	return -1
}
