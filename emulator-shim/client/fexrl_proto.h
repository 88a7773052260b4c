/* SPDX-License-Identifier: MIT */
/*
 * The fexrl wire protocol as the C client reads and writes it. The
 * format is documented, and defined for the server, in the Go package
 * emulator-shim/protocol; the numbers here must match it (a Go test
 * compiles this header and compares). Internal to the client.
 */
#ifndef FEXRL_PROTO_H
#define FEXRL_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum {
	FEXRL_MSG_HELLO = 1,
	FEXRL_MSG_TASK_CREATED = 2,
	FEXRL_MSG_SYSCALL = 3,
	FEXRL_MSG_THREAD_EXIT = 4,
	FEXRL_MSG_PROCESS_EXIT = 5,
	FEXRL_MSG_EXEC = 6,
	FEXRL_MSG_EXEC_FAILED = 7,
	FEXRL_MSG_STATS = 8,
	FEXRL_MSG_STATUS = 9,
	FEXRL_MSG_OP_REPLY = 10,

	FEXRL_MSG_HELLO_OK = 101,
	FEXRL_MSG_RESULT = 102,
	FEXRL_MSG_DONE = 103,
	FEXRL_MSG_READ = 104,
	FEXRL_MSG_WRITE = 105,
	FEXRL_MSG_CAS32 = 106,
	FEXRL_MSG_WAKE = 107,
	FEXRL_MSG_ERROR = 108,
	FEXRL_MSG_STATS_REPLY = 109,
	FEXRL_MSG_STATUS_REPLY = 110,
};

#define FEXRL_HEADER_SIZE 8
#define FEXRL_MAX_MESSAGE (64 * 1024)
#define FEXRL_MAX_DATA 4096
#define FEXRL_DEATH_WIRE_SIZE 160
#define FEXRL_FILTER_WIRE_SIZE 24
#define FEXRL_MAX_FILTERS 64
#define FEXRL_HELLO_FLAG_AFTER_FORK 1

/* A syscall the server wants offered: (abi_bits, nr), and when mask is
 * nonzero only if args[arg] & mask. */
struct fexrl_filter {
	uint32_t abi_bits;
	uint32_t nr;
	uint32_t arg;
	uint64_t mask;
};

/* One decoded server message. */
struct fexrl_srvmsg {
	uint32_t type;
	/* HELLO_OK */
	uint32_t version;
	size_t nfilters;
	struct fexrl_filter filters[FEXRL_MAX_FILTERS];
	/* RESULT */
	int handled;
	int64_t ret;
	/* DONE */
	uint32_t done[6];
	/* READ, WRITE, CAS32, WAKE */
	uint64_t addr;
	uint32_t len;
	const uint8_t *data; /* WRITE payload, ERROR text, STATS counters */
	uint32_t old, new_;
	int32_t n;
	/* ERROR */
	int32_t code;
	size_t text_len;
	/* STATS_REPLY */
	uint32_t ncounters;
};

/*
 * fexrl__parse decodes the server message buf[0..len) into *m. It returns
 * 0, or -EPROTO for a malformed message (wrong size, count or length, an
 * unknown type); it reads no byte outside buf.
 */
int fexrl__parse(const uint8_t *buf, size_t len, struct fexrl_srvmsg *m);

#endif /* FEXRL_PROTO_H */
