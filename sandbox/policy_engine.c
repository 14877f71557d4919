/* The engine's seccomp allowlist.  Default action and bad-architecture
 * action: kill the process.  Everything that opens files or sockets is done
 * before this is loaded (engine.c); one line per entry says who needs it. */
#include "config.h"

#include <stddef.h>
#include <sys/mman.h>
#include <seccomp.h>

#include "policy.h"

struct allow {
	int nr;
	const char *why;
};

static const struct allow engine_allow[] = {
	{ SCMP_SYS(read),          "the socket (GnuTLS pull, plaintext phase), the application's pipes, ctl" },
	{ SCMP_SYS(write),         "the socket (plaintext phase), pipes to the application, the Y reply" },
	{ SCMP_SYS(writev),        "GnuTLS push of records (relay.c transport_push)" },
	{ SCMP_SYS(sendto),        "key channel requests, log lines (send)" },
	{ SCMP_SYS(recvfrom),      "key channel replies (recv)" },
	{ SCMP_SYS(poll),          "relay loop and handshake waits" },
	{ SCMP_SYS(ppoll),         "glibc implements poll() with it on some architectures" },
	{ SCMP_SYS(close),         "closing a pipe when its direction ends" },
	{ SCMP_SYS(shutdown),      "FIN to the client after close_notify" },
	{ SCMP_SYS(getrandom),     "GnuTLS reseeds after fork and draws per handshake" },
	{ SCMP_SYS(futex),         "glibc/GnuTLS once-initialisation wake-ups" },
	{ SCMP_SYS(brk),           "malloc" },
	{ SCMP_SYS(munmap),        "free of large blocks" },
	{ SCMP_SYS(mremap),        "realloc of large blocks" },
	{ SCMP_SYS(madvise),       "glibc free trimming" },
	{ SCMP_SYS(clock_gettime), "deadlines, GnuTLS time (when the vDSO falls back to a syscall)" },
	{ SCMP_SYS(gettimeofday),  "GnuTLS time (vDSO fallback)" },
	{ SCMP_SYS(time),          "GnuTLS time (vDSO fallback)" },
	{ SCMP_SYS(rt_sigreturn),  "return from a signal handler, should one run" },
	{ SCMP_SYS(restart_syscall), "the kernel resumes an interrupted poll after SIGSTOP/SIGCONT" },
	{ SCMP_SYS(exit_group),    "_exit" },
	{ SCMP_SYS(exit),          "thread exit" },
};

/* mmap and mprotect, but never executable memory. */
static const struct allow engine_allow_noexec[] = {
	{ SCMP_SYS(mmap),     "malloc of large blocks (anonymous, never PROT_EXEC)" },
	{ SCMP_SYS(mprotect), "glibc malloc arenas (never PROT_EXEC)" },
};

#ifdef UCSPI_TLSD_SANITIZERS
/* Test-only: the AddressSanitizer runtime's own calls in the sanitizer build
 * (configure --enable-sanitizers).  The production build never has these. */
static const struct allow sanitizer_allow[] = {
	{ SCMP_SYS(sigaltstack), "ASan checks the signal stack on no-return calls" },
	{ SCMP_SYS(getpid),      "ASan and LSan runtime bookkeeping" },
	{ SCMP_SYS(gettid),      "ASan thread registry" },
	{ SCMP_SYS(sched_yield), "ASan allocator spin locks" },
};
#define SANITIZER_RULES (sizeof sanitizer_allow / sizeof sanitizer_allow[0])
#else
static const struct allow sanitizer_allow[1];
#define SANITIZER_RULES 0
#endif

static const char *add_rules(scmp_filter_ctx ctx, const struct allow *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, list[i].nr, 0) < 0)
			return "seccomp: cannot add a rule";
	return NULL;
}

const char *policy_engine_load(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	const char *err = NULL;

	if (!ctx)
		return "seccomp_init failed";
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
		err = "seccomp: cannot set the bad-architecture action";
	if (!err)
		err = add_rules(ctx, engine_allow, sizeof engine_allow / sizeof engine_allow[0]);
	if (!err)
		err = add_rules(ctx, sanitizer_allow, SANITIZER_RULES);
	for (size_t i = 0; !err && i < sizeof engine_allow_noexec / sizeof engine_allow_noexec[0]; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, engine_allow_noexec[i].nr, 1,
		                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0)
			err = "seccomp: cannot add a rule";
	if (!err && seccomp_load(ctx) < 0)
		err = "seccomp_load failed";
	seccomp_release(ctx);
	return err;
}
