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
	printf("owner: lock -> %d, exiting with it held\n", r);
	return 0;
}
