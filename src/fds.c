/* Descriptor plumbing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"

void fds_ensure_std(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);
			if (n < 0)
				_exit(111);
			if (n != fd) { /* a lower one was free: impossible, but be exact */
				dup2(n, fd);
				close(n);
			}
		}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void fds_close_except(const int *keep, size_t n)
{
	int sorted[16];
	unsigned next = 3;

	if (n > sizeof sorted / sizeof sorted[0])
		abort();
	for (size_t i = 0; i < n; i++)
		sorted[i] = keep[i];
	qsort(sorted, n, sizeof sorted[0], cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (sorted[i] < (int)next)
			continue;
		if ((unsigned)sorted[i] > next)
			close_range(next, (unsigned)sorted[i] - 1, 0);
		next = (unsigned)sorted[i] + 1;
	}
	close_range(next, ~0U, 0);
}

int fds_same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void fds_null(int fd)
{
	int n = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (n >= 0 && n != fd) {
		dup2(n, fd);
		close(n);
	}
}

const char *fds_open_problem(int err)
{
	switch (err) {
	case ENOENT: return "no such file";
	case EACCES: return "permission denied";
	case EISDIR: return "is a directory";
	default: return strerror(err);
	}
}

const char *fds_file_problem(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	const char *problem = NULL;

	if (fd < 0)
		return fds_open_problem(errno);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		problem = "not a regular file";
	else if (st.st_size == 0)
		problem = "empty file";
	close(fd);
	return problem;
}
