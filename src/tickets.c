/* Ticket key: read the master key, derive the period's engine key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "fds.h"
#include "tickets.h"

#define TICKET_MASTER_MAX 4096

bool tickets_version_ok(const char *version)
{
	unsigned major = 0, minor = 0, patch = 0;

	if (!version || sscanf(version, "%u.%u.%u", &major, &minor, &patch) < 2)
		return false;
	return major > 3 || (major == 3 && (minor > 6 || (minor == 6 && patch >= 14)));
}

int tickets_derive(const unsigned char *master, size_t len, unsigned long long period,
                   unsigned char out[TICKET_KEY_SIZE])
{
	static const char label[] = "ucspi-tlsd session ticket key";
	unsigned char msg[sizeof label + 8];

	memcpy(msg, label, sizeof label); /* the label's NUL separates it from the number */
	for (int i = 0; i < 8; i++)
		msg[sizeof label + i] = (unsigned char)(period >> (56 - 8 * i));
	return gnutls_hmac_fast(GNUTLS_MAC_SHA512, master, len, msg, sizeof msg, out);
}

int tickets_bind(unsigned char key[TICKET_KEY_SIZE], const unsigned char *context, size_t len)
{
	static const char label[] = "ucspi-tlsd client certificate policy";
	unsigned char msg[sizeof label + 64], bound[TICKET_KEY_SIZE];
	int ret;

	if (len > sizeof msg - sizeof label)
		return -1;
	memcpy(msg, label, sizeof label);
	memcpy(msg + sizeof label, context, len);
	ret = gnutls_hmac_fast(GNUTLS_MAC_SHA512, key, TICKET_KEY_SIZE, msg, sizeof label + len, bound);
	memcpy(key, bound, TICKET_KEY_SIZE);
	explicit_bzero(bound, sizeof bound);
	return ret;
}

/* Only root may write it (or the engine's key could be chosen) or read it. */
static const char *ownership_problem(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != 0)
		return "not owned by root";
	if (st->st_mode & 077)
		return "readable or writable by others than root (chmod 600)";
	if (st->st_size < TICKET_MASTER_MIN)
		return "shorter than 32 bytes (head -c 64 /dev/urandom)";
	if (st->st_size > TICKET_MASTER_MAX)
		return "longer than 4096 bytes";
	return NULL;
}

const char *tickets_engine_key(const char *file, time_t now, unsigned period_secs,
                               unsigned char out[TICKET_KEY_SIZE])
{
	unsigned char master[TICKET_MASTER_MAX];
	struct stat st;
	const char *problem;
	ssize_t n = -1;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return fds_open_problem(errno);
	if (fstat(fd, &st) < 0)
		problem = "cannot stat it";
	else if (!(problem = ownership_problem(&st)) && (n = read(fd, master, sizeof master)) < TICKET_MASTER_MIN)
		problem = "read error";
	close(fd);
	if (!problem && tickets_derive(master, (size_t)n, (unsigned long long)now / period_secs, out) < 0)
		problem = "cannot derive the key";
	explicit_bzero(master, sizeof master);
	return problem;
}
