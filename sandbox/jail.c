/* chroot, uid/gid, rlimits, dumpable, no_new_privs. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef UCSPI_TLSD_SANITIZERS
#include <sanitizer/lsan_interface.h>
#endif

#include "jail.h"

uid_t jail_connection_uid(pid_t pid)
{
	return (uid_t)(JAIL_UID_BASE + ((unsigned)pid & 0x3fffffu));
}

/* mkdir -p, root-owned 0755 */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path)
		return -1;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static bool dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = d != NULL;

	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	if (d)
		closedir(d);
	return empty;
}

/* No one but root can swap the jail for another directory between this
 * check and the chroot: every directory above it is root's and writable by
 * no one else, or sticky (as /tmp: others cannot rename root's entries). */
static bool ancestors_safe(const char *dir)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(dir, real))
		return false;
	for (char *p = strrchr(real, '/'); p; p = strrchr(real, '/')) {
		*p = '\0';
		if (stat(p == real ? "/" : real, &st) < 0 || st.st_uid != 0 ||
		    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
			return false;
	}
	return true;
}

const char *jail_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return "cannot stat the jail directory";
		if (make_dirs(dir) < 0)
			return "cannot create the jail directory";
		if (stat(dir, &st) < 0)
			return "cannot stat the jail directory";
	}
	if (!S_ISDIR(st.st_mode))
		return "the jail is not a directory";
	if (st.st_uid != 0 || (st.st_mode & 022))
		return "the jail directory must be owned by root and writable by no one else";
	if (!ancestors_safe(dir))
		return "a directory above the jail is not root's, or others could rename the jail";
	return dir_is_empty(dir) ? NULL : "the jail directory is not empty";
}

static int limit(int resource, rlim_t value)
{
	struct rlimit rl = { value, value };
	return setrlimit(resource, &rl);
}

static int set_ids(uid_t uid, gid_t gid)
{
	return setgroups(0, NULL) == 0 && setresgid(gid, gid, gid) == 0 && setresuid(uid, uid, uid) == 0 ? 0 : -1;
}

/* After the uid change: RLIMIT_NPROC counts that uid's processes.  (No
 * RLIMIT_FSIZE here: the parent's fd 2 may be a log file.) */
static const char *lock_down(void)
{
	if (limit(RLIMIT_NPROC, 0) < 0 || limit(RLIMIT_CORE, 0) < 0)
		return "setting resource limits failed";
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return "prctl failed";
	return NULL;
}

const char *jail_enter(const char *dir, uid_t uid, gid_t gid, int max_fd)
{
	if (chroot(dir) < 0 || chdir("/") < 0)
		return "chroot into the jail directory failed";
	if (set_ids(uid, gid) < 0)
		return "dropping to the engine's uid and gid failed";
	if (limit(RLIMIT_NOFILE, (rlim_t)max_fd + 1) < 0 || limit(RLIMIT_FSIZE, 0) < 0)
		return "setting resource limits failed";
#ifndef UCSPI_TLSD_SANITIZERS /* test-only: ASan reserves terabytes of address space */
	if (limit(RLIMIT_AS, JAIL_ENGINE_MEMORY) < 0)
		return "setting resource limits failed";
#endif
	return lock_down();
}

/* Only CAP_KILL survives the uid change, effective and permitted. */
static int keep_only_cap_kill(void)
{
	struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };

	data[CAP_TO_INDEX(CAP_KILL)].effective = data[CAP_TO_INDEX(CAP_KILL)].permitted = CAP_TO_MASK(CAP_KILL);
	return (int)syscall(SYS_capset, &head, data);
}

const char *jail_drop_parent(uid_t uid)
{
#ifdef UCSPI_TLSD_SANITIZERS
	/* Test-only: LeakSanitizer's check at exit traces the process, which
	 * a non-dumpable process under its seccomp filter cannot allow.  Run
	 * it now, while it can (this turns the one at exit off); the parent
	 * allocates little after this point. */
	__lsan_do_leak_check();
#endif
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || set_ids(uid, (gid_t)uid) < 0 ||
	    keep_only_cap_kill() < 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return "dropping the parent's privileges failed";
	return lock_down();
}
