/* The seccomp allowances for the sanitizer runtimes (sandbox/policy.c and
 * sandbox/policy_engine.c, under UCSPI_TLSD_SANITIZERS, which only
 * configure --enable-sanitizers defines) exist in that test build only.
 * In a normal build each of those calls kills the engine and the parent
 * like any unlisted call; in the sanitizer build each is allowed, as ASan
 * and LSan need.  Each call runs in a child that has just loaded the
 * policy, through syscall(2), so nothing else runs in between. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy.h"

#ifdef UCSPI_TLSD_SANITIZERS
#define BUILD "sanitizer"
#define EXPECT_ALLOWED 1
#else
#define BUILD "normal"
#define EXPECT_ALLOWED 0
#endif

static const struct {
	const char *name;
	long nr, arg0;
	int engine_only; /* the parent's own list has it (log lines: pid, fd 2) */
} sanitizer_calls[] = {
	{ "sigaltstack", SYS_sigaltstack, 0, 0 },
	{ "getpid", SYS_getpid, 0, 1 },
	{ "gettid", SYS_gettid, 0, 0 },
	{ "sched_yield", SYS_sched_yield, 0, 0 },
	{ "write on fd 2", SYS_write, 2, 1 },
};

/* 1 if the call returned under the policy, 0 if the policy killed it. */
static int allowed(int engine, long nr, long arg0)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (engine ? policy_engine_load(NULL, 0) : policy_parent_load(getppid()))
			_exit(99);
		syscall(nr, arg0, NULL, 0);
		syscall(SYS_exit_group, 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || (WIFEXITED(status) && WEXITSTATUS(status) == 99)) {
		fprintf(stderr, "cannot run a child under the policy\n");
		_exit(99);
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
}

int main(void)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof sanitizer_calls / sizeof sanitizer_calls[0]; i++)
		for (int engine = 1; engine >= sanitizer_calls[i].engine_only; engine--) {
			int got = allowed(engine, sanitizer_calls[i].nr, sanitizer_calls[i].arg0);
			int ok = got == EXPECT_ALLOWED;
			printf("%s: %s under the %s policy, %s build: %s\n", ok ? "ok" : "FAIL", sanitizer_calls[i].name,
			       engine ? "engine" : "parent", BUILD,
			       got < 0 ? "neither allowed nor killed" : got ? "allowed" : "killed");
			failed |= !ok;
		}
	return failed;
}
