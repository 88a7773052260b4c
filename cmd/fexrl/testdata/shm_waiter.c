/* Not a guest: runs natively, outside fexrl. It creates a process-shared
 * robust mutex in a named shared memory file (argv[1]), tells the test it
 * is ready, and waits on the mutex once the guest holds it (argv[2] is a
 * file the guest's lock makes appear... simpler: it polls the word). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4096)) { perror("create"); return 2; }
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); return 2; }
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &at);
	printf("waiter: ready\n");
	fflush(stdout);
	/* Wait until someone holds it, then block on it. */
	while (__atomic_load_n((uint32_t *)m, __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	int r = pthread_mutex_timedlock(m, &ts);
	printf("waiter: lock -> %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == ETIMEDOUT ? "ETIMEDOUT (never woken)" : strerror(r));
	return r == EOWNERDEAD ? 0 : 1;
}
