/* The engine's jail: empty chroot, its own uid and gid, no new privileges,
 * not dumpable, rlimits.  The seccomp policy is loaded after it (policy.h). */
#ifndef UCSPI_TLSD_JAIL_H
#define UCSPI_TLSD_JAIL_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Engines get uid and gid JAIL_UID_BASE + their pid when no -j user is
 * given.  Live processes have distinct pids (below 2^22, the kernel's
 * largest pid_max), so two live engines never share a uid and can neither
 * signal nor trace each other.  The range 0x70000000-0x703fffff lies in
 * what systemd documents as unused (1879048192-2147352575): no login user,
 * dynamic user or container range is allocated there. */
#define JAIL_UID_BASE 0x70000000u

/* The engine's address space limit (RLIMIT_AS).  An engine in the middle
 * of a session maps about 11 MiB (VmPeak, Debian 12, GnuTLS 3.7.9, RSA
 * 2048): six times that leaves room for large certificates and buffers,
 * and stops a runaway allocation long before it matters to the machine. */
#define JAIL_ENGINE_MEMORY ((rlim_t)64 << 20)

uid_t jail_connection_uid(pid_t pid);

/* Make sure dir exists (created root-owned 0755 when missing), is owned by
 * root, writable by no one else, and empty.  NULL, or the problem in words. */
const char *jail_check_dir(const char *dir);

/* The engine: chroot(dir), drop to uid/gid, rlimits (no descriptor above
 * max_fd, no process, no file growth, no core, a memory cap),
 * no_new_privs, not dumpable.  NULL, or the step that failed. */
const char *jail_enter(const char *dir, uid_t uid, gid_t gid, int max_fd);

/* The parent, once it holds the key: drop to uid (and the same gid), keep
 * CAP_KILL alone (to end a misbehaving engine, which runs under another
 * uid; the parent's seccomp policy allows SIGKILL to the engine only),
 * the same rlimits, no_new_privs, not dumpable.  The caller picks a uid
 * that no other process has: jail_connection_uid of its own pid. */
const char *jail_drop_parent(uid_t uid);

#endif
