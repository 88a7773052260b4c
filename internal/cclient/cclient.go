//go:build linux && cgo

// Package cclient compiles the C client's decoder
// (emulator-shim/client/fexrl_client.c) into Go tests, so that it can be
// fuzzed and checked against the Go decoder of package protocol. It is
// for tests only: an emulator never has a Go runtime beside the client.
package cclient

/*
#cgo CFLAGS: -std=c11 -Wall -Wextra -Werror
#include "../../emulator-shim/client/fexrl_client.c"

static int parse(const uint8_t *buf, size_t len, uint32_t *type, uint32_t *nfilters, int64_t *ret) {
	struct fexrl_srvmsg m;
	int r = fexrl__parse(buf, len, &m);
	*type = m.type;
	*nfilters = (uint32_t)m.nfilters;
	*ret = m.ret;
	return r;
}
*/
import "C"

import "unsafe"

// Parse runs the C client's fexrl__parse on b. ok is false where the C
// client rejects the message as malformed.
func Parse(b []byte) (typ uint32, nfilters uint32, ret int64, ok bool) {
	var t, n C.uint32_t
	var r C.int64_t
	p := C.CBytes(b)
	defer C.free(p)
	rc := C.parse((*C.uint8_t)(p), C.size_t(len(b)), &t, &n, &r)
	return uint32(t), uint32(n), int64(r), rc == 0
}

var _ = unsafe.Pointer(nil)
