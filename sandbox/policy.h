/* seccomp policies (libseccomp): kill the process by default and on a
 * foreign architecture.  policy.c builds a filter from a table of allowed
 * system calls, each with the reason it is needed; policy_engine.c and
 * policy_parent.c hold the two tables. */
#ifndef UCSPI_TLSD_POLICY_H
#define UCSPI_TLSD_POLICY_H

#include <stddef.h>
#include <sys/types.h>
#include <seccomp.h>

struct allow {
	int nr;
	const char *why;
};

/* A filter that kills by default, with list allowed without condition,
 * mmap and mprotect allowed without PROT_EXEC, and (sanitizer build only)
 * the sanitizer runtime's own calls.  NULL on failure. */
scmp_filter_ctx policy_begin(const struct allow *list, size_t n);
/* Allow each of calls[] (its first argument a descriptor) on fd only. */
int policy_allow_on_fd(scmp_filter_ctx ctx, const struct allow *calls, size_t n, int fd);
/* Load the filter (when ok) and free it.  NULL, or what failed. */
const char *policy_finish(scmp_filter_ctx ctx, int ok);

/* The engine's allowlist: read and write only on the descriptors in fds. */
const char *policy_engine_load(const int *fds, size_t nfds);
/* The parent's allowlist, once the key is loaded: answer the engine, log,
 * reap the children, and SIGKILL the engine (only the engine). */
const char *policy_parent_load(pid_t engine);

#define POLICY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
