/* A guest for signal handling: argv[1] "wait" prints a line, waits for
 * SIGTERM and exits 0 from its handler; "ignore" prints a line and
 * ignores SIGTERM; "segv" dies by SIGSEGV; "stopkill" stops a child with
 * SIGSTOP, then kills it with SIGKILL. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; static const char m[] = "guest: got SIGTERM\n"; write(1, m, sizeof m - 1); _exit(0); }

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "segv") == 0) {
		*(volatile int *)0 = 1;
		return 3;
	}
	if (argc > 1 && strcmp(argv[1], "stopkill") == 0) {
		int st;
		pid_t p = fork();
		if (p == 0) {
			raise(SIGSTOP);
			_exit(8);
		}
		waitpid(p, &st, WUNTRACED);
		printf("child stopped by signal %d\n", WSTOPSIG(st));
		kill(p, SIGKILL);
		waitpid(p, &st, 0);
		printf("child killed by signal %d\n", WTERMSIG(st));
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "ignore") == 0) {
		signal(SIGTERM, SIG_IGN);
		printf("guest: ignoring SIGTERM\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	signal(SIGTERM, on_term);
	printf("guest: waiting for SIGTERM\n");
	fflush(stdout);
	for (;;)
		pause();
}
