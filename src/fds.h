/* Descriptor plumbing shared by the three processes. */
#ifndef UCSPI_TLSD_FDS_H
#define UCSPI_TLSD_FDS_H

#include <stddef.h>

/* Make fds 0-2 valid (on /dev/null) before anything else is opened, so that
 * no key or log file ever lands on them (C06). */
void fds_ensure_std(void);
/* Close every descriptor from 3 up that is not in keep. */
void fds_close_except(const int *keep, size_t n);
/* Do a and b name the same open file (same device and inode)? */
int fds_same_file(int a, int b);
/* Can path be read as a regular file?  NULL, or the problem in words. */
const char *fds_file_problem(const char *path);
/* The same words for an errno from open(). */
const char *fds_open_problem(int err);
/* Put /dev/null on fd. */
void fds_null(int fd);

#endif
