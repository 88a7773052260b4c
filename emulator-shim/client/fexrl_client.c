/* SPDX-License-Identifier: MIT */
/*
 * The fexrl client: see fexrl_client.h for the contract. This file moves
 * bytes between the emulator and the fexrl server and performs the memory
 * operations the server asks for; it holds no robust-list rule.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fexrl_client.h"
#include "fexrl_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The client's state: one per emulator process. A forked child finds
 * pid different from its own and starts afresh, never touching the
 * parent's mutex or connection. */
struct client {
	pthread_mutex_t mu;
	int fd; /* -1: off */
	pid_t pid;
	int quiet;
	uint32_t guest_bits;
	uint64_t guest_base;
	fexrl_guest_host_fn guest_host;
	void *ctx;
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char program[256];
	size_t nfilters;
	struct fexrl_filter filters[FEXRL_MAX_FILTERS];
	uint8_t out[FEXRL_MAX_MESSAGE];
	uint8_t in[FEXRL_MAX_MESSAGE];
	struct fexrl_srvmsg msg;
};

static struct client cl = { .mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* --- little-endian encoding --- */

static uint8_t *put32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v) {
	put32(p, (uint32_t)v);
	return put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* begin writes a header of type t at p; finish fills in the size. */
static uint8_t *begin(uint8_t *p, uint32_t t) { return put32(put32(p, 0), t); }
static size_t finish(uint8_t *start, uint8_t *end) {
	size_t n = (size_t)(end - start);
	put32(start, (uint32_t)n);
	return n;
}

int fexrl__parse(const uint8_t *buf, size_t len, struct fexrl_srvmsg *m) {
	memset(m, 0, sizeof *m);
	if (len < FEXRL_HEADER_SIZE || len > FEXRL_MAX_MESSAGE || get32(buf) != len)
		return -EPROTO;
	m->type = get32(buf + 4);
	const uint8_t *p = buf + FEXRL_HEADER_SIZE;
	size_t n = len - FEXRL_HEADER_SIZE;
	switch (m->type) {
	case FEXRL_MSG_HELLO_OK: {
		if (n < 16)
			return -EPROTO;
		m->version = get32(p);
		uint32_t count = get32(p + 8), size = get32(p + 12);
		if (size < FEXRL_FILTER_WIRE_SIZE || count > FEXRL_MAX_FILTERS || (uint64_t)count * size != n - 16)
			return -EPROTO;
		m->nfilters = count;
		for (uint32_t i = 0; i < count; i++) {
			const uint8_t *e = p + 16 + (size_t)i * size;
			m->filters[i].abi_bits = get32(e);
			m->filters[i].nr = get32(e + 4);
			m->filters[i].arg = get32(e + 8);
			m->filters[i].mask = get64(e + 16);
		}
		return 0;
	}
	case FEXRL_MSG_RESULT:
		if (n < 16 || get32(p) > 1)
			return -EPROTO;
		m->handled = (int)get32(p);
		m->ret = (int64_t)get64(p + 8);
		return 0;
	case FEXRL_MSG_DONE:
		if (n < 24)
			return -EPROTO;
		for (int i = 0; i < 6; i++)
			m->done[i] = get32(p + 4 * i);
		return 0;
	case FEXRL_MSG_READ:
	case FEXRL_MSG_WRITE:
	case FEXRL_MSG_CAS32:
	case FEXRL_MSG_WAKE:
		if (n < 16)
			return -EPROTO;
		m->addr = get64(p);
		if (m->type == FEXRL_MSG_READ) {
			m->len = get32(p + 8);
			if (m->len == 0 || m->len > FEXRL_MAX_DATA)
				return -EPROTO;
		} else if (m->type == FEXRL_MSG_WRITE) {
			m->len = get32(p + 8);
			if (m->len == 0 || m->len > FEXRL_MAX_DATA || m->len != n - 16)
				return -EPROTO;
			m->data = p + 16;
		} else if (m->type == FEXRL_MSG_CAS32) {
			m->old = get32(p + 8);
			m->new_ = get32(p + 12);
		} else {
			m->n = (int32_t)get32(p + 8);
			if (m->n < 0)
				return -EPROTO;
		}
		return 0;
	case FEXRL_MSG_ERROR:
		if (n < 8)
			return -EPROTO;
		m->code = (int32_t)get32(p);
		m->data = p + 8;
		m->text_len = n - 8;
		return 0;
	case FEXRL_MSG_STATS_REPLY:
		if (n < 8 || (uint64_t)get32(p) * 8 != n - 8)
			return -EPROTO;
		m->ncounters = get32(p);
		m->data = p + 8;
		return 0;
	}
	return -EPROTO;
}

/* --- the connection --- */

/* turn_off closes the connection and says why, once. cl.mu is held. */
static void turn_off(const char *why, int err) {
	if (cl.fd >= 0) {
		close(cl.fd);
		cl.fd = -1;
		if (!cl.quiet)
			fprintf(stderr, "fexrl client (pid %d): %s%s%s; robust-list syscalls now answer as without fexrl (ENOSYS)\n",
			        (int)getpid(), why, err ? ": " : "", err ? strerror(err) : "");
	}
}

static int send_msg(size_t n) {
	for (;;) {
		ssize_t r = send(cl.fd, cl.out, n, MSG_NOSIGNAL);
		if (r == (ssize_t)n)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		int e = r < 0 ? errno : EPROTO;
		turn_off("the fexrl server is gone (send)", e);
		return -ENOTCONN;
	}
}

/* SPIN_NS is how long recv_msg polls before it sleeps: an answer that
 * comes sooner costs no wake-up of this thread (tens of microseconds on
 * some virtual machines). The thread would be blocked anyway. */
#define SPIN_NS 50000

static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* recv_msg reads one server message into cl.msg. */
static int recv_msg(void) {
	int64_t until = 0;
	for (int spins = 0;; spins++) {
		int flags = MSG_TRUNC;
		if (spins == 0)
			until = mono_ns() + SPIN_NS;
		if (until)
			flags |= MSG_DONTWAIT;
		ssize_t r = recv(cl.fd, cl.in, sizeof cl.in, flags);
		if (r < 0 && errno == EAGAIN && until) {
			if (mono_ns() > until)
				until = 0;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			turn_off("the fexrl server is gone", r < 0 ? errno : 0);
			return -ENOTCONN;
		}
		if ((size_t)r > sizeof cl.in || fexrl__parse(cl.in, (size_t)r, &cl.msg) < 0) {
			turn_off("malformed message from the fexrl server", EPROTO);
			return -ENOTCONN;
		}
		return 0;
	}
}

/* do_op performs one memory operation for the server and answers it. */
static int do_op(void) {
	struct fexrl_srvmsg *m = &cl.msg;
	uint8_t *p = begin(cl.out, FEXRL_MSG_OP_REPLY);
	uint64_t value = 0;
	int32_t err = 0;
	uint32_t dlen = 0;
	uint8_t *data = p + 16;
	void *host;
	switch (m->type) {
	case FEXRL_MSG_READ:
		host = cl.guest_host(cl.ctx, m->addr, m->len, 0);
		if (!host) {
			err = EFAULT;
			break;
		}
		memcpy(data, host, m->len);
		dlen = m->len;
		break;
	case FEXRL_MSG_WRITE:
		host = cl.guest_host(cl.ctx, m->addr, m->len, 1);
		if (!host) {
			err = EFAULT;
			break;
		}
		memcpy(host, m->data, m->len);
		break;
	case FEXRL_MSG_CAS32: {
		if (m->addr & 3) {
			err = EINVAL;
			break;
		}
		host = cl.guest_host(cl.ctx, m->addr, 4, 1);
		if (!host) {
			err = EFAULT;
			break;
		}
		uint32_t expected = m->old;
		__atomic_compare_exchange_n((uint32_t *)host, &expected, m->new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		value = expected;
		break;
	}
	case FEXRL_MSG_WAKE: {
		if (m->addr & 3) {
			err = EINVAL;
			break;
		}
		host = cl.guest_host(cl.ctx, m->addr, 4, 0);
		if (!host) {
			err = EFAULT;
			break;
		}
		/* Shared, as the kernel wakes robust waiters. */
		long r = syscall(SYS_futex, host, FUTEX_WAKE, m->n, NULL, NULL, 0);
		if (r < 0)
			err = errno;
		else
			value = (uint64_t)r;
		break;
	}
	}
	p = put64(p, value);
	p = put32(p, (uint32_t)err);
	p = put32(p, dlen);
	return send_msg(finish(cl.out, p + dlen));
}

/* transact sends the request in cl.out[0..n) and serves the server's
 * memory operations until a message of type want (or 0 for none: a
 * notice) arrives in cl.msg. cl.mu is held. */
static int transact(size_t n, uint32_t want) {
	int r = send_msg(n);
	if (r < 0 || want == 0)
		return r;
	for (;;) {
		if ((r = recv_msg()) < 0)
			return r;
		switch (cl.msg.type) {
		case FEXRL_MSG_READ:
		case FEXRL_MSG_WRITE:
		case FEXRL_MSG_CAS32:
		case FEXRL_MSG_WAKE:
			if ((r = do_op()) < 0)
				return r;
			continue;
		case FEXRL_MSG_ERROR:
			if (!cl.quiet)
				fprintf(stderr, "fexrl client: the server refused: %.*s\n", (int)cl.msg.text_len, (const char *)cl.msg.data);
			return cl.msg.code < 0 ? cl.msg.code : -EPROTO;
		}
		if (cl.msg.type == want)
			return 0;
		turn_off("unexpected message from the fexrl server", EPROTO);
		return -ENOTCONN;
	}
}

static int dial(void) {
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(cl.socket);
	memcpy(sa.sun_path, cl.socket, n);
	if (cl.socket[0] == '@')
		sa.sun_path[0] = 0;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0)
			return fd;
		if (errno != EINTR)
			break;
	}
	int e = errno;
	close(fd);
	return -e;
}

/* hello connects and introduces this process. cl.mu is held. */
static int hello(pid_t forked_from) {
	int fd = dial();
	if (fd < 0) {
		if (!cl.quiet)
			fprintf(stderr, "fexrl client (pid %d): cannot reach the fexrl server at %s: %s; robust-list syscalls answer as without fexrl (ENOSYS)\n",
			        (int)getpid(), cl.socket, strerror(-fd));
		return fd;
	}
	cl.fd = fd;
	uint8_t *p = begin(cl.out, FEXRL_MSG_HELLO);
	p = put32(p, FEXRL_PROTOCOL_VERSION);
	p = put32(p, forked_from ? FEXRL_HELLO_FLAG_AFTER_FORK : 0);
	p = put32(p, (uint32_t)cl.pid);
	p = put32(p, (uint32_t)forked_from);
	p = put32(p, cl.guest_bits);
	p = put32(p, 0);
	p = put64(p, cl.guest_base);
	size_t plen = strlen(cl.program);
	memcpy(p, cl.program, plen);
	int r = transact(finish(cl.out, p + plen), FEXRL_MSG_HELLO_OK);
	if (r < 0) {
		if (cl.fd >= 0) {
			int q = cl.quiet;
			cl.quiet = 1;
			turn_off("", 0);
			cl.quiet = q;
		}
		return r;
	}
	if (cl.msg.version != FEXRL_PROTOCOL_VERSION) {
		if (!cl.quiet)
			fprintf(stderr, "fexrl client (pid %d): the fexrl server speaks protocol version %u, this client %d: use a client and server of one fexrl release\n",
			        (int)getpid(), cl.msg.version, FEXRL_PROTOCOL_VERSION);
		int q = cl.quiet;
		cl.quiet = 1;
		turn_off("", 0);
		cl.quiet = q;
		return -EPROTONOSUPPORT;
	}
	cl.nfilters = cl.msg.nfilters;
	memcpy(cl.filters, cl.msg.filters, sizeof cl.filters);
	return 0;
}

/* autostart starts `fexrl serve` for this tree and waits until it
 * listens. The server is not our child (a double fork), so the guest
 * never sees it in wait(). */
static int autostart(void) {
	snprintf(cl.socket, sizeof cl.socket, "@fexrl-%d-%ld", (int)getpid(), (long)syscall(SYS_gettid) ^ (long)(uintptr_t)&cl);
	const char *bin = getenv("FEXRL_SERVER");
	if (!bin || !*bin)
		bin = "fexrl";
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	char ready[16], tree[16];
	snprintf(ready, sizeof ready, "%d", 3);
	snprintf(tree, sizeof tree, "%d", (int)getpid());
	pid_t mid = fork();
	if (mid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (mid == 0) {
		setsid();
		pid_t s = fork();
		if (s == 0) {
			dup2(pfd[1], 3);
			char serve[] = "serve", sock[] = "--socket", rfd[] = "--ready-fd", tr[] = "--tree";
			char *argv[] = { (char *)bin, serve, sock, cl.socket, rfd, ready, tr, tree, NULL };
			execvp(bin, argv);
			_exit(127);
		}
		_exit(s < 0 ? 1 : 0);
	}
	close(pfd[1]);
	int st;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	char c;
	ssize_t r;
	while ((r = read(pfd[0], &c, 1)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (r != 1) {
		if (!cl.quiet)
			fprintf(stderr, "fexrl client: could not start the fexrl server (%s serve)\n", bin);
		return -ECONNREFUSED;
	}
	setenv("FEXRL_SOCKET", cl.socket, 1);
	return 0;
}

int fexrl_client_init(const struct fexrl_client_config *cfg) {
	if (!cfg || cfg->size < offsetof(struct fexrl_client_config, program) || !cfg->guest_host)
		return -EINVAL;
	pthread_mutex_lock(&cl.mu);
	if (cl.fd >= 0)
		close(cl.fd);
	cl.fd = -1;
	cl.pid = getpid();
	cl.quiet = (cfg->flags & FEXRL_CLIENT_QUIET) != 0;
	cl.guest_bits = cfg->guest_bits;
	cl.guest_base = cfg->guest_base;
	cl.guest_host = cfg->guest_host;
	cl.ctx = cfg->ctx;
	cl.program[0] = 0;
	if (cfg->size >= offsetof(struct fexrl_client_config, program) + sizeof cfg->program && cfg->program)
		snprintf(cl.program, sizeof cl.program, "%s", cfg->program);
	const char *s = cfg->socket ? cfg->socket : getenv("FEXRL_SOCKET");
	int r = 0;
	cl.socket[0] = 0;
	if (s && *s) {
		if (strlen(s) >= sizeof cl.socket)
			r = -ENAMETOOLONG;
		else
			snprintf(cl.socket, sizeof cl.socket, "%s", s);
	} else if (cfg->flags & FEXRL_CLIENT_AUTOSTART) {
		r = autostart();
	} else {
		r = -ENOENT;
	}
	if (r == 0)
		r = hello(0);
	pthread_mutex_unlock(&cl.mu);
	return r;
}

int fexrl_client_enabled(void) {
	pthread_mutex_lock(&cl.mu);
	int on = cl.fd >= 0 && cl.pid == getpid();
	pthread_mutex_unlock(&cl.mu);
	return on;
}

/* refork starts the child's own client state; only the forking thread
 * exists in the child, so nothing else touches cl meanwhile. */
static int refork(void) {
	pid_t parent = cl.pid;
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	memcpy(&cl.mu, &fresh, sizeof fresh);
	int had = cl.fd >= 0;
	if (cl.fd >= 0)
		close(cl.fd);
	cl.fd = -1;
	cl.pid = getpid();
	if (!had || !cl.socket[0])
		return -ENOTCONN;
	pthread_mutex_lock(&cl.mu);
	int r = hello(parent);
	pthread_mutex_unlock(&cl.mu);
	return r;
}

int fexrl_client_fork_child(int32_t tid) {
	(void)tid;
	if (cl.pid == getpid())
		return 0; /* already done */
	return refork();
}

/* enter takes the client for one call; it fails with -ENOTCONN when
 * the client is off. */
static int enter(void) {
	if (cl.pid != getpid() && cl.pid != 0)
		refork();
	pthread_mutex_lock(&cl.mu);
	if (cl.fd < 0) {
		pthread_mutex_unlock(&cl.mu);
		return -ENOTCONN;
	}
	return 0;
}

static void leave(void) { pthread_mutex_unlock(&cl.mu); }

int fexrl_client_thread_created(int32_t parent, int32_t child, int32_t child_tgid, uint64_t clone_flags) {
	int r = enter();
	if (r < 0)
		return r;
	uint8_t *p = begin(cl.out, FEXRL_MSG_TASK_CREATED);
	p = put32(p, (uint32_t)parent);
	p = put32(p, (uint32_t)child);
	p = put32(p, (uint32_t)child_tgid);
	p = put32(p, 0);
	p = put64(p, clone_flags);
	r = transact(finish(cl.out, p), 0);
	leave();
	return r;
}

/* offered reports whether the server's table asks for the syscall. */
static int offered(int abi_bits, int64_t nr, const uint64_t args[6]) {
	for (size_t i = 0; i < cl.nfilters; i++) {
		const struct fexrl_filter *f = &cl.filters[i];
		if (f->abi_bits != (uint32_t)abi_bits || (int64_t)f->nr != nr)
			continue;
		if (f->mask == 0 || (f->arg < 6 && (args[f->arg] & f->mask)))
			return 1;
	}
	return 0;
}

int fexrl_client_syscall(int32_t tid, int abi_bits, int64_t nr, const uint64_t args[6], int64_t *ret) {
	if (!args || !ret)
		return -EINVAL;
	/* The table is read without the mutex: it changes only in init and
	 * in a fork child, never while another thread runs guest code. */
	if (cl.fd < 0 || !offered(abi_bits, nr, args))
		return 0;
	int r = enter();
	if (r < 0)
		return 0;
	uint8_t *p = begin(cl.out, FEXRL_MSG_SYSCALL);
	p = put32(p, (uint32_t)tid);
	p = put32(p, (uint32_t)abi_bits);
	p = put64(p, (uint64_t)nr);
	for (int i = 0; i < 6; i++)
		p = put64(p, args[i]);
	r = transact(finish(cl.out, p), FEXRL_MSG_RESULT);
	int handled = 0;
	if (r == 0 && cl.msg.handled) {
		*ret = cl.msg.ret;
		handled = 1;
	}
	leave();
	return handled;
}

/* put_deaths appends n deaths (each with its own size) to p. */
static uint8_t *put_deaths(uint8_t *p, const struct fexrl_death *d, size_t n) {
	p = put32(p, (uint32_t)n);
	p = put32(p, FEXRL_DEATH_WIRE_SIZE);
	for (size_t i = 0; i < n; i++) {
		struct fexrl_death x = { 0 };
		uint64_t sz = d[i].size < sizeof x ? d[i].size : sizeof x;
		memcpy(&x, &d[i], (size_t)sz);
		p = put32(p, (uint32_t)x.tid);
		p = put32(p, (uint32_t)x.mode);
		p = put64(p, x.ip);
		p = put64(p, x.thread_pointer);
		p = put64(p, x.flags);
		for (int j = 0; j < 16; j++)
			p = put64(p, x.regs[j]);
	}
	return p;
}

_Static_assert(FEXRL_MAX_DEATHS == (FEXRL_MAX_MESSAGE - FEXRL_HEADER_SIZE - 16) / FEXRL_DEATH_WIRE_SIZE,
               "FEXRL_MAX_DEATHS must match the largest message");

static void summary(struct fexrl_exit_summary *out) {
	if (!out || out->size < sizeof(uint64_t))
		return;
	struct fexrl_exit_summary s = { .size = out->size };
	s.lists = cl.msg.done[0];
	s.entries = cl.msg.done[1];
	s.marked = cl.msg.done[2];
	s.woken = cl.msg.done[3];
	s.limit_hits = cl.msg.done[4];
	s.faults = cl.msg.done[5];
	memcpy(out, &s, (size_t)(out->size < sizeof s ? out->size : sizeof s));
}

/* death_event sends an exit, process exit or exec and waits for Done. */
static int death_event(uint32_t type, int32_t tid, uint32_t second, const struct fexrl_death *d, size_t n,
                       struct fexrl_exit_summary *out) {
	if (n && !d)
		return -EINVAL;
	if (n > FEXRL_MAX_DEATHS)
		n = FEXRL_MAX_DEATHS; /* the rest are walked without registers */
	int r = enter();
	if (r < 0)
		return r;
	uint8_t *p = begin(cl.out, type);
	p = put32(p, (uint32_t)tid);
	p = put32(p, second);
	p = put_deaths(p, d, n);
	r = transact(finish(cl.out, p), FEXRL_MSG_DONE);
	if (r == 0) {
		summary(out);
		r = (int)cl.msg.done[0];
	}
	leave();
	return r;
}

int fexrl_client_thread_exit(int32_t tid, int cause, const struct fexrl_death *death, struct fexrl_exit_summary *out) {
	if (cause < FEXRL_CAUSE_EXIT || cause > FEXRL_CAUSE_SIGNAL)
		return -EINVAL;
	return death_event(FEXRL_MSG_THREAD_EXIT, tid, (uint32_t)cause, death, death ? 1 : 0, out);
}

int fexrl_client_process_exit(int32_t tid, int sig, const struct fexrl_death *deaths, size_t n, struct fexrl_exit_summary *out) {
	return death_event(FEXRL_MSG_PROCESS_EXIT, tid, (uint32_t)sig, deaths, n, out);
}

int fexrl_client_exec(int32_t tid, const struct fexrl_death *deaths, size_t n) {
	return death_event(FEXRL_MSG_EXEC, tid, 0, deaths, n, NULL);
}

int fexrl_client_exec_failed(int32_t tid, int err) {
	int r = enter();
	if (r < 0)
		return r;
	uint8_t *p = begin(cl.out, FEXRL_MSG_EXEC_FAILED);
	p = put32(p, (uint32_t)tid);
	p = put32(p, (uint32_t)err);
	r = transact(finish(cl.out, p), 0);
	leave();
	return r;
}

int fexrl_client_stats(struct fexrl_stats *out) {
	if (!out || out->size < sizeof(uint64_t))
		return -EINVAL;
	int r = enter();
	if (r < 0)
		return r;
	uint8_t *p = begin(cl.out, FEXRL_MSG_STATS);
	r = transact(finish(cl.out, p), FEXRL_MSG_STATS_REPLY);
	if (r == 0) {
		struct fexrl_stats s = { .size = out->size };
		size_t have = (sizeof s - sizeof s.size) / sizeof(int64_t);
		for (size_t i = 0; i < cl.msg.ncounters && i < have; i++) {
			int64_t v = (int64_t)get64(cl.msg.data + 8 * i);
			memcpy((uint8_t *)&s + sizeof s.size + 8 * i, &v, sizeof v);
		}
		memcpy(out, &s, (size_t)(out->size < sizeof s ? out->size : sizeof s));
	}
	leave();
	return r;
}
