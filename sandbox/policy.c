/* Building a seccomp filter from an allowlist table. */
#include "config.h"

#include <sys/mman.h>

#include "policy.h"

/* What both filtered processes need to run C at all: glibc malloc (brk for
 * small blocks; mmap, mremap, munmap and madvise for blocks above the mmap
 * threshold and for trimming, which depend on sizes no test fixes), GnuTLS
 * randomness, the clock when the vDSO falls back to the system call (some
 * virtual machines' clock sources), and exit. */
static const struct allow common_allow[] = {
	{ SCMP_SYS(brk),             "malloc of small blocks" },
	{ SCMP_SYS(munmap),          "free of large blocks" },
	{ SCMP_SYS(mremap),          "realloc of large blocks" },
	{ SCMP_SYS(madvise),         "glibc free trimming" },
	{ SCMP_SYS(futex),           "glibc/GnuTLS locks and once-initialisation" },
	{ SCMP_SYS(getrandom),       "GnuTLS: reseed after fork, handshake secrets, ECDSA nonces, RSA blinding" },
	{ SCMP_SYS(clock_gettime),   "deadlines, GnuTLS time, log time stamps (vDSO fallback)" },
	{ SCMP_SYS(gettimeofday),    "GnuTLS time (vDSO fallback)" },
	{ SCMP_SYS(time),            "GnuTLS time, log time stamps (vDSO fallback)" },
	{ SCMP_SYS(restart_syscall), "the kernel resumes an interrupted poll or wait after SIGSTOP/SIGCONT" },
	{ SCMP_SYS(exit_group),      "exit" },
};

/* mmap and mprotect, but never executable memory: both processes allocate
 * (malloc of large blocks, glibc arenas); neither loads code once filtered. */
static const struct allow noexec_allow[] = {
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
#define SANITIZER_RULES POLICY_LEN(sanitizer_allow)
#else
static const struct allow sanitizer_allow[1];
#define SANITIZER_RULES 0
#endif

static int add_rules(scmp_filter_ctx ctx, const struct allow *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, list[i].nr, 0) < 0)
			return -1;
	return 0;
}

scmp_filter_ctx policy_begin(const struct allow *list, size_t n)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int ok = ctx && seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) == 0 &&
	         add_rules(ctx, common_allow, POLICY_LEN(common_allow)) == 0 && add_rules(ctx, list, n) == 0 &&
	         add_rules(ctx, sanitizer_allow, SANITIZER_RULES) == 0;

	for (size_t i = 0; ok && i < POLICY_LEN(noexec_allow); i++)
		ok = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, noexec_allow[i].nr, 1,
		                      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) == 0;
	if (!ok && ctx) {
		seccomp_release(ctx);
		ctx = NULL;
	}
	return ctx;
}

int policy_allow_on_fd(scmp_filter_ctx ctx, const struct allow *calls, size_t n, int fd)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i].nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd)) < 0)
			return -1;
	return 0;
}

const char *policy_finish(scmp_filter_ctx ctx, int ok)
{
	const char *err = !ctx || !ok ? "seccomp: cannot build the filter"
	                  : seccomp_load(ctx) < 0 ? "seccomp_load failed" : NULL;

	if (ctx)
		seccomp_release(ctx);
	return err;
}
