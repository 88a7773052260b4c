/* QEMU 7.2 linux-user (x86-64 guests, glibc >= 2.34) dies of SIGSEGV when
 * a thread sleeping in pause() is cancelled: stock Debian QEMU does too.
 * TestStockQemuDefects shows it. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *t(void *a) { (void)a; for (;;) pause(); return 0; }
int main(void) { pthread_t th; pthread_create(&th, 0, t, 0); usleep(100000); pthread_cancel(th); void *r; pthread_join(th, &r); printf("joined %s\n", r == PTHREAD_CANCELED ? "cancelled" : "?"); return 0; }
