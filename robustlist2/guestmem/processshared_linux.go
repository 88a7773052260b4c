package guestmem

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// objMap is fexrl's own mapping of the object behind one MAP_SHARED vma
// of the target (shared anonymous memory, System V shm, memfd, a file),
// made through /proc/<pid>/map_files/<start>-<end> at the vma's file
// offset. The kernel keys a shared futex by object and offset, and the
// pages are the same pages, so a compare-and-swap or a FUTEX_WAKE on this
// mapping is one on the target's word, atomic with respect to every
// process that maps the object, stopped or not.
type objMap struct {
	data  []byte  // the mapping; nil when err is set
	host  uintptr // address of data[0]
	start uint64  // target address of data[0]
	err   error   // why the object could not be mapped
}

// hostAddr returns our address for target address addr, which lies in
// the vma.
func (o *objMap) hostAddr(addr uint64) uintptr { return o.host + uintptr(addr-o.start) }

// mapShared maps the object behind the shared vma v of process pid with
// v's protection. It returns an objMap whose err says why it could not,
// and an error only when the vma no longer exists (maps must be re-read).
func mapShared(pid int, v *vma) (*objMap, error) {
	o := &objMap{start: v.start}
	if !v.readable() {
		o.err = fmt.Errorf("%w: shared mapping %#x-%#x is not readable", ErrFault, v.start, v.end)
		return o, nil
	}
	length := v.end - v.start
	if length > math.MaxInt || v.offset > math.MaxInt64 {
		o.err = fmt.Errorf("%w: shared mapping %#x-%#x too large for this host", ErrOutside, v.start, v.end)
		return o, nil
	}
	flags, prot := unix.O_RDONLY, unix.PROT_READ
	if v.writable() {
		flags, prot = unix.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	path := fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, v.start, v.end)
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || err == unix.ESRCH {
			return nil, fmt.Errorf("guestmem: open %s: %w", path, err)
		}
		o.err = fmt.Errorf("guestmem: open %s: %w", path, err)
		return o, nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		o.err = fmt.Errorf("guestmem: fstat %s: %w", path, err)
		return o, nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// Device memory: mapping it again could have side effects.
		o.err = fmt.Errorf("guestmem: %s (%s) is not a regular file or shared memory", path, v.path)
		return o, nil
	}
	data, err := unix.Mmap(fd, int64(v.offset), int(length), prot, unix.MAP_SHARED)
	if err != nil {
		o.err = fmt.Errorf("guestmem: mmap %s: %w", path, err)
		return o, nil
	}
	o.data = data
	o.host = uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return o, nil
}

// unmap releases the mapping.
func (o *objMap) unmap() {
	if o.data != nil {
		_ = unix.Munmap(o.data)
		o.data, o.host = nil, 0
	}
}
