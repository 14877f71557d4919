/* The seccomp policies kill what they do not list (issue 3 (a)).
 *
 * Each case forks a child that loads a policy and then makes one system
 * call with syscall(2) directly, so that nothing else runs between the
 * filter and the call; the test asserts how the child ended.  A control
 * case per policy shows that loading it and exiting is not what kills. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

enum which { ENGINE, PARENT };

/* The descriptors the engine policy is given: a pipe. */
static int owned[2];
static pid_t fake_engine;

static void load(enum which p)
{
	const char *err = p == ENGINE ? policy_engine_load(owned, 2) : policy_parent_load(fake_engine);

	if (err)
		_exit(99);
}

/* What the child does after the filter: one call each. */
enum call {
	C_NONE, C_OPEN, C_OPENAT, C_SOCKET, C_CONNECT, C_EXECVE, C_PTRACE, C_KILL, C_KILL_ENGINE, C_KILL_ENGINE_TERM,
	C_FORK, C_CLONE, C_SETUID, C_READ_OWNED, C_READ_OTHER, C_WRITE_STDERR, C_MMAP_EXEC, C_MMAP_DATA,
	C_MALLOC_LARGE, C_CLOCKS
};

/* glibc malloc's large-block paths: mmap, mremap, munmap, trimming. */
static long malloc_large(void)
{
	char *p = malloc(1 << 20), *q;

	if (!p)
		return -1;
	p[0] = 1;
	q = realloc(p, 8 << 20);
	if (!q)
		return -1;
	free(q);
	free(malloc(200 << 10));
	return malloc_trim(0);
}

/* The clock as the vDSO's fallback asks for it. */
static long clocks(void)
{
	struct timespec ts;
	struct timeval tv;

	return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) | syscall(SYS_gettimeofday, &tv, NULL) |
	       (syscall(SYS_time, NULL) < 0);
}

static long make_call(enum call c)
{
	char buf[1];
	static char *const argv[] = { "/bin/true", NULL };

	switch (c) {
	case C_NONE:             return 0;
	case C_OPEN:             return syscall(SYS_open, "/etc/passwd", O_RDONLY);
	case C_OPENAT:           return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
	case C_SOCKET:           return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	case C_CONNECT:          return syscall(SYS_connect, owned[0], NULL, 0);
	case C_EXECVE:           return syscall(SYS_execve, argv[0], argv, NULL);
	case C_PTRACE:           return syscall(SYS_ptrace, PTRACE_ATTACH, getppid(), 0, 0);
	case C_KILL:             return syscall(SYS_kill, getppid(), SIGKILL);
	case C_KILL_ENGINE:      return syscall(SYS_kill, fake_engine, SIGKILL);
	case C_KILL_ENGINE_TERM: return syscall(SYS_kill, fake_engine, SIGTERM);
	case C_FORK:             return syscall(SYS_fork);
	case C_CLONE:            return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	case C_SETUID:           return syscall(SYS_setuid, 65534);
	case C_READ_OWNED:       return syscall(SYS_read, owned[0], buf, 1);
	case C_READ_OTHER:       return syscall(SYS_read, 0, buf, 1);
	case C_WRITE_STDERR:     return syscall(SYS_write, 2, "", 0);
	case C_MMAP_EXEC:
		return syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case C_MMAP_DATA:
		return syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case C_MALLOC_LARGE:     return malloc_large();
	case C_CLOCKS:           return clocks();
	}
	return 0;
}

/* The child's wait status after: load the policy, make the call, exit 0. */
static int run(enum which p, enum call c)
{
	int status;
	pid_t pid;

	ck_assert_int_eq(pipe(owned), 0);
	ck_assert_int_eq(write(owned[1], "x", 1), 1);
	fake_engine = fork();
	ck_assert_int_ge(fake_engine, 0);
	if (fake_engine == 0) {
		pause();
		_exit(0);
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		load(p);
		make_call(c);
		syscall(SYS_exit_group, 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	kill(fake_engine, SIGKILL);
	waitpid(fake_engine, NULL, 0);
	close(owned[0]);
	close(owned[1]);
	return status;
}

static void assert_killed(enum which p, enum call c)
{
	int status = run(p, c);

	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	              "call %d under the %s policy: expected SIGSYS, got status %#x", (int)c,
	              p == ENGINE ? "engine" : "parent", (unsigned)status);
}

static void assert_allowed(enum which p, enum call c)
{
	int status = run(p, c);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "call %d under the %s policy: expected a clean exit, got status %#x", (int)c,
	              p == ENGINE ? "engine" : "parent", (unsigned)status);
}

/* The engine policy. */
START_TEST(engine_control) { assert_allowed(ENGINE, C_NONE); } END_TEST
START_TEST(engine_reads_its_own_fd) { assert_allowed(ENGINE, C_READ_OWNED); } END_TEST
START_TEST(engine_maps_data) { assert_allowed(ENGINE, C_MMAP_DATA); } END_TEST
START_TEST(engine_mallocs_large_blocks) { assert_allowed(ENGINE, C_MALLOC_LARGE); } END_TEST
START_TEST(engine_reads_the_clock) { assert_allowed(ENGINE, C_CLOCKS); } END_TEST
START_TEST(engine_open) { assert_killed(ENGINE, C_OPEN); } END_TEST
START_TEST(engine_openat) { assert_killed(ENGINE, C_OPENAT); } END_TEST
START_TEST(engine_socket) { assert_killed(ENGINE, C_SOCKET); } END_TEST
START_TEST(engine_connect) { assert_killed(ENGINE, C_CONNECT); } END_TEST
START_TEST(engine_execve) { assert_killed(ENGINE, C_EXECVE); } END_TEST
START_TEST(engine_ptrace) { assert_killed(ENGINE, C_PTRACE); } END_TEST
START_TEST(engine_kill) { assert_killed(ENGINE, C_KILL); } END_TEST
START_TEST(engine_fork) { assert_killed(ENGINE, C_FORK); } END_TEST
START_TEST(engine_clone) { assert_killed(ENGINE, C_CLONE); } END_TEST
START_TEST(engine_setuid) { assert_killed(ENGINE, C_SETUID); } END_TEST
START_TEST(engine_reads_fd_not_its_own) { assert_killed(ENGINE, C_READ_OTHER); } END_TEST
START_TEST(engine_maps_exec) { assert_killed(ENGINE, C_MMAP_EXEC); } END_TEST

/* The parent policy. */
START_TEST(parent_control) { assert_allowed(PARENT, C_NONE); } END_TEST
START_TEST(parent_kills_engine) { assert_allowed(PARENT, C_KILL_ENGINE); } END_TEST
START_TEST(parent_logs_on_stderr) { assert_allowed(PARENT, C_WRITE_STDERR); } END_TEST
START_TEST(parent_mallocs_large_blocks) { assert_allowed(PARENT, C_MALLOC_LARGE); } END_TEST
START_TEST(parent_open) { assert_killed(PARENT, C_OPEN); } END_TEST
START_TEST(parent_openat) { assert_killed(PARENT, C_OPENAT); } END_TEST
START_TEST(parent_socket) { assert_killed(PARENT, C_SOCKET); } END_TEST
START_TEST(parent_connect) { assert_killed(PARENT, C_CONNECT); } END_TEST
START_TEST(parent_execve) { assert_killed(PARENT, C_EXECVE); } END_TEST
START_TEST(parent_ptrace) { assert_killed(PARENT, C_PTRACE); } END_TEST
START_TEST(parent_fork) { assert_killed(PARENT, C_FORK); } END_TEST
START_TEST(parent_setuid) { assert_killed(PARENT, C_SETUID); } END_TEST
START_TEST(parent_kills_other_process) { assert_killed(PARENT, C_KILL); } END_TEST
START_TEST(parent_sends_engine_other_signal) { assert_killed(PARENT, C_KILL_ENGINE_TERM); } END_TEST
START_TEST(parent_maps_exec) { assert_killed(PARENT, C_MMAP_EXEC); } END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *engine = tcase_create("engine"), *parent = tcase_create("parent");
	SRunner *sr;
	int failed;

	tcase_add_test(engine, engine_control);
	tcase_add_test(engine, engine_reads_its_own_fd);
	tcase_add_test(engine, engine_maps_data);
	tcase_add_test(engine, engine_mallocs_large_blocks);
	tcase_add_test(engine, engine_reads_the_clock);
	tcase_add_test(engine, engine_open);
	tcase_add_test(engine, engine_openat);
	tcase_add_test(engine, engine_socket);
	tcase_add_test(engine, engine_connect);
	tcase_add_test(engine, engine_execve);
	tcase_add_test(engine, engine_ptrace);
	tcase_add_test(engine, engine_kill);
	tcase_add_test(engine, engine_fork);
	tcase_add_test(engine, engine_clone);
	tcase_add_test(engine, engine_setuid);
	tcase_add_test(engine, engine_reads_fd_not_its_own);
	tcase_add_test(engine, engine_maps_exec);
	tcase_add_test(parent, parent_control);
	tcase_add_test(parent, parent_kills_engine);
	tcase_add_test(parent, parent_logs_on_stderr);
	tcase_add_test(parent, parent_mallocs_large_blocks);
	tcase_add_test(parent, parent_open);
	tcase_add_test(parent, parent_openat);
	tcase_add_test(parent, parent_socket);
	tcase_add_test(parent, parent_connect);
	tcase_add_test(parent, parent_execve);
	tcase_add_test(parent, parent_ptrace);
	tcase_add_test(parent, parent_fork);
	tcase_add_test(parent, parent_setuid);
	tcase_add_test(parent, parent_kills_other_process);
	tcase_add_test(parent, parent_sends_engine_other_signal);
	tcase_add_test(parent, parent_maps_exec);
	suite_add_tcase(s, engine);
	suite_add_tcase(s, parent);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
