/* Runs fexrl's try-unlock machine code (CODE, from tryunlock_code.h, which
 * the Go test writes) the way a guest calls its vDSO function, and prints
 * what it did: uncontended (word == tid) and contended (word == tid with
 * FUTEX_WAITERS). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "tryunlock_code.h"

typedef uint32_t (*try_unlock_fn)(volatile uint32_t *lock, uint32_t tid, void *pop);

int main(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) { perror("mmap"); return 2; }
	memcpy(page, CODE, sizeof CODE);
	try_unlock_fn fn = (try_unlock_fn)page;
	volatile uint32_t lock;
	volatile uint64_t slot;
	const uint32_t tid = 4242;

	lock = tid;
	slot = 0x1122334455667788ull;
	uint32_t r = fn(&lock, tid, (void *)&slot);
	printf("uncontended: ret=%s lock=%u slot=%#llx\n", r == tid ? "tid" : "other", lock, (unsigned long long)slot);

	lock = tid | 0x80000000u;
	slot = 0x1122334455667788ull;
	r = fn(&lock, tid, (void *)&slot);
	printf("contended: ret=%s lock=%s slot=%#llx\n", r == (tid | 0x80000000u) ? "word" : "other",
	       lock == (tid | 0x80000000u) ? "unchanged" : "changed", (unsigned long long)slot);
	return 0;
}
