/* A guest that locks a process-shared robust mutex in a named shared
 * memory object (argv[1], created by the test) and exits holding it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) { perror("open"); return 2; }
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); return 2; }
	int r = pthread_mutex_lock(m);
	/* Die only once the waiter sleeps on the word (it sets FUTEX_WAITERS
	 * just before FUTEX_WAIT), so the wake has someone to wake; then give
	 * it a moment to get from there into the kernel. */
	for (int i = 0; i < 20000 && !(__atomic_load_n((unsigned *)m, __ATOMIC_SEQ_CST) & 0x80000000u); i++)
		usleep(1000);
	usleep(100000);
	printf("owner: lock -> %d, exiting with it held\n", r);
	return 0;
}
