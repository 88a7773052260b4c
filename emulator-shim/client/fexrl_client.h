/* SPDX-License-Identifier: MIT */
/*
 * fexrl client: what an emulator links to give its x86 and x86-64 guests
 * robust futexes, talking to a fexrl server (`fexrl serve`) that runs
 * beside the emulator, one per emulated process tree.
 *
 * WHAT THE CLIENT DOES. It forwards the emulator's events (process start,
 * thread created, guest syscall offered, exec about to happen and its
 * outcome, thread exit, exit_group, fatal signal) to the server and
 * returns its answers. While a call waits for the server, the server may
 * ask the calling thread to read or write guest memory, compare-and-swap a
 * 32-bit futex word or wake one waiter on it (FUTEX_WAKE, never with
 * FUTEX_PRIVATE_FLAG); the client does exactly that and nothing else. It
 * knows no robust-list rule: no head layout, limit, errno or walk. Which
 * syscalls it offers to the server is a table the server sends it.
 *
 * GUEST MEMORY. Guest address A is host address A + guest_base, and the
 * client touches guest memory only through fexrl_guest_host_fn, which the
 * emulator supplies: it says which guest ranges the guest may access. A
 * hostile robust list that points at the emulator's own memory is answered
 * EFAULT, never written.
 *
 * THREADS AND FORK. Every call is safe from any thread. The client has no
 * thread of its own. It serialises calls on its one connection with a
 * mutex; a forked child never uses its parent's connection or mutex: it
 * calls fexrl_client_fork_child (or the next call notices the new pid) and
 * opens its own connection. The connection is close-on-exec.
 *
 * THE SERVER. The server's address is cfg->socket, else the environment's
 * FEXRL_SOCKET (a path, or @name for the abstract namespace): a launcher
 * such as `fexrl qemu` starts the server and sets it, and exec'd children
 * inherit it. With FEXRL_CLIENT_AUTOSTART and no address, the client starts
 * `fexrl serve` itself (the program in FEXRL_SERVER, else "fexrl" on PATH)
 * for this process tree and puts its address in the environment.
 *
 * FAULTS. Without a server, or once the server is gone, the client is off:
 * fexrl_client_syscall returns 0 (the emulator answers as it would without
 * fexrl, ENOSYS for set_robust_list under QEMU) and one line on stderr
 * says why. A malformed message from the server turns the client off the
 * same way; it never crashes the emulator.
 *
 * RETURN VALUES. 0 or a positive value on success, a negative errno on
 * failure (-ENOTCONN when the client is off, -EINVAL for a bad argument).
 *
 * STRUCTS. Every struct passed in or out starts with its size (as clone3's
 * does): set it to sizeof the struct you compiled with; the client reads
 * and writes no byte past it, so older and newer callers keep working.
 */
#ifndef FEXRL_CLIENT_H
#define FEXRL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The wire protocol version this client speaks. */
#define FEXRL_PROTOCOL_VERSION 1

/* The most thread registers one process exit or exec carries: the
 * registers of the first FEXRL_MAX_DEATHS entries of `deaths` are sent
 * (put the calling thread first); every thread of the process is walked
 * all the same, the others without registers (the kernel's rule for a
 * pending op). */
#define FEXRL_MAX_DEATHS 409

/*
 * fexrl_guest_host_fn returns the host address of the guest range
 * [addr, addr+len) if the guest may read it (write == 0) or write it
 * (write == 1), and NULL otherwise. Called only on the thread inside a
 * client call. An emulator that write-protects pages holding translated
 * code must make a writable guest page writable here (QEMU: page_unprotect,
 * which its access checks do), so a futex word on such a page is written.
 */
typedef void *(*fexrl_guest_host_fn)(void *ctx, uint64_t addr, uint64_t len, int write);

/* Flags for fexrl_client_config.flags. */
enum {
	FEXRL_CLIENT_AUTOSTART = 1, /* no address: start a server for this tree */
	FEXRL_CLIENT_QUIET = 2,     /* no line on stderr when the client turns off */
};

struct fexrl_client_config {
	uint64_t size;              /* sizeof(struct fexrl_client_config) */
	uint32_t flags;             /* FEXRL_CLIENT_* */
	uint32_t guest_bits;        /* 32 or 64: the guest image (informational) */
	const char *socket;         /* NULL: $FEXRL_SOCKET */
	uint64_t guest_base;        /* host = guest + guest_base */
	fexrl_guest_host_fn guest_host;
	void *ctx;                  /* passed to guest_host */
	const char *program;        /* the guest program, for fexrl status; may be NULL */
};

/*
 * fexrl_death is a guest thread's registers when it died; pass NULL where
 * unknown. With it, fexrl recognises a thread killed inside a robust unlock
 * after it released the word, and never writes that word.
 */
struct fexrl_death {
	uint64_t size;            /* sizeof(struct fexrl_death) */
	int32_t tid;              /* the thread (for exit_group and signals) */
	int32_t mode;             /* 32 or 64: the code the thread was running */
	uint64_t ip;              /* guest instruction pointer */
	uint64_t thread_pointer;  /* %fs base (x86-64) or %gs base (i386) */
	uint64_t flags;           /* eflags/rflags */
	uint64_t regs[16];        /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
};

/* fexrl_exit_summary says what the server did for one event. */
struct fexrl_exit_summary {
	uint64_t size;        /* sizeof(struct fexrl_exit_summary) */
	uint32_t lists;       /* lists walked */
	uint32_t entries;     /* list entries visited */
	uint32_t marked;      /* futex words set to FUTEX_OWNER_DIED */
	uint32_t woken;       /* waiters woken */
	uint32_t limit_hits;  /* lists longer than the walk limit */
	uint32_t faults;      /* walks that stopped on a bad list */
};

/* fexrl_stats are the server's counters for the whole tree. */
struct fexrl_stats {
	uint64_t size;              /* sizeof(struct fexrl_stats) */
	int64_t tasks;              /* tasks seen */
	int64_t lists_registered;   /* lists put in place */
	int64_t walks;              /* lists walked by fexrl */
	int64_t entries_walked;
	int64_t owner_died_marked;
	int64_t woken;
	int64_t wake_errors;
	int64_t limit_hits;
	int64_t walk_faults;
	int64_t unknown_tasks;      /* tasks fexrl learned of late */
	int64_t host_walked_lists;  /* lists the host kernel walked */
	int64_t unlock_windows;     /* deaths inside a robust unlock */
};

/* Causes of a thread's death, for fexrl_client_thread_exit. */
enum {
	FEXRL_CAUSE_EXIT = 0,       /* the thread called exit */
	FEXRL_CAUSE_EXIT_GROUP = 1, /* its process called exit_group */
	FEXRL_CAUSE_SIGNAL = 2,     /* a fatal signal killed it */
};

/*
 * Process start: connect to the server and say who we are. Call once in
 * the first emulator process and in every exec'd one, before the guest
 * runs. Returns 0, or a negative errno with the client off.
 */
int fexrl_client_init(const struct fexrl_client_config *cfg);

/* Whether the client is connected: 1 or 0. */
int fexrl_client_enabled(void);

/*
 * In a forked child, before it runs guest code: drop the parent's
 * connection and open one of the child's own (the server learns which
 * process it came from; the child inherits no robust list, as in the
 * kernel). tid is the child's TID (its pid).
 */
int fexrl_client_fork_child(int32_t tid);

/*
 * A new guest thread: call in the creating thread once the child's TID is
 * known and before the child runs guest code (QEMU: under clone_lock).
 * child_tgid is the parent's thread group for CLONE_THREAD. Not for fork:
 * a forked child reports itself with fexrl_client_fork_child.
 */
int fexrl_client_thread_created(int32_t parent, int32_t child, int32_t child_tgid, uint64_t clone_flags);

/*
 * A guest syscall: abi_bits is 32 (int $0x80, sysenter) or 64 (syscall);
 * args are the six argument registers, zero-extended. Returns 1 and the
 * guest's return value (a value or -errno) in *ret when fexrl handled the
 * call, 0 when the emulator performs it as usual.
 */
int fexrl_client_syscall(int32_t tid, int abi_bits, int64_t nr, const uint64_t args[6], int64_t *ret);

/*
 * A guest thread ends by exit (cause FEXRL_CAUSE_EXIT), or one thread of a
 * process (cause SIGNAL): fexrl walks its lists before this returns. Call
 * before the emulator clears the thread's clear_child_tid word, as the
 * kernel walks before it. death may be NULL. out may be NULL.
 */
int fexrl_client_thread_exit(int32_t tid, int cause, const struct fexrl_death *death, struct fexrl_exit_summary *out);

/*
 * The whole process ends: exit_group (sig 0) or a fatal signal sig. tid
 * is the thread that did it; deaths has the registers of every guest
 * thread of the process (any order, n may be 0; see FEXRL_MAX_DEATHS). The emulator keeps the
 * other threads from running guest code meanwhile (QEMU: start_exclusive).
 * fexrl walks every thread's lists before this returns.
 */
int fexrl_client_process_exit(int32_t tid, int sig, const struct fexrl_death *deaths, size_t n, struct fexrl_exit_summary *out);

/*
 * exec is about to happen in thread tid: the server reads the lists of
 * every thread of the process now, and walks them (as exec does for tid,
 * as the kernel's de_thread kills for the others) only once the exec has
 * succeeded: when the new image calls fexrl_client_init, or this process's
 * close-on-exec connection closes without fexrl_client_exec_failed.
 */
int fexrl_client_exec(int32_t tid, const struct fexrl_death *deaths, size_t n);

/* The exec announced by fexrl_client_exec failed with errno err: nothing
 * the server prepared is written. */
int fexrl_client_exec_failed(int32_t tid, int err);

/* The server's counters. out->size must be set. */
int fexrl_client_stats(struct fexrl_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* FEXRL_CLIENT_H */
