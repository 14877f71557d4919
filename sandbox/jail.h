/* The engine's jail: empty chroot, its own uid and gid, no new privileges,
 * not dumpable, rlimits.  The seccomp policy is loaded after it (policy.h). */
#ifndef UCSPI_TLSD_JAIL_H
#define UCSPI_TLSD_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Engines get uid and gid JAIL_UID_BASE + their pid when no -j user is
 * given.  Live processes have distinct pids (below 2^22, the kernel's
 * largest pid_max), so two live engines never share a uid and can neither
 * signal nor trace each other.  The range 0x70000000-0x703fffff lies in
 * what systemd documents as unused (1879048192-2147352575): no login user,
 * dynamic user or container range is allocated there. */
#define JAIL_UID_BASE 0x70000000u

uid_t jail_connection_uid(pid_t pid);

/* Make sure dir exists (created root-owned 0755 when missing), is owned by
 * root, writable by no one else, and empty.  NULL, or the problem in words. */
const char *jail_check_dir(const char *dir);

/* chroot(dir), drop to uid/gid (when change_ids), rlimits, no_new_privs,
 * not dumpable.  NULL, or the step that failed. */
const char *jail_enter(const char *dir, uid_t uid, gid_t gid, bool change_ids);

#endif
