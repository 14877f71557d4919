/* What the application sees in its environment: the UCSPI TCP variables and
 * the SSL_* block of the UCSPI-TLS 'Y' reply.  Pure code, no I/O. */
#ifndef UCSPI_TLSD_UCSPIENV_H
#define UCSPI_TLSD_UCSPIENV_H

#include <stddef.h>
#include <sys/socket.h>

/* Text form of an address as tcp-environ(5) wants it: IPv4-mapped IPv6
 * printed as IPv4, native IPv6 in the usual form.  ip needs 46 bytes, port 6.
 * Returns 0, or -1 for a non-IP address (AF_UNIX, a pipe's peer). */
int ucspienv_format_addr(const struct sockaddr_storage *sa, char ip[46], char port[6]);

/* The variables the helper itself reads; removed before the application runs. */
extern const char *const ucspienv_own_vars[];

/* A 'Y' reply block: NAME=value\0 ... then one more \0.  With no entry it is
 * \0\0, as the UCSPI-TLS text asks.  Never a bare NAME\0. */
#define ENVBLOCK_MAX 4096
#define ENVBLOCK_NAME_MAX 127
struct envblock {
	char buf[ENVBLOCK_MAX];
	size_t len;
	unsigned count;
};

void envblock_init(struct envblock *b);
/* Append NAME=value.  NAME must be [A-Z0-9_]+, at most ENVBLOCK_NAME_MAX long; control characters and bytes
 * above 0x7e in the value are replaced by '?'.  Returns -1 (and appends
 * nothing) for a bad name or when the block would overflow. */
int envblock_add(struct envblock *b, const char *name, const char *value);
/* Terminate the block; returns its length. */
size_t envblock_finish(struct envblock *b);

/* An entry of the start block (engine -> launcher), never of a 'Y' reply:
 * -o found a certificate or key problem, so the application runs without
 * UCSPITLS and without the UCSPI-TLS descriptors. */
#define START_NO_TLS "UCSPITLSD_NO_TLS"

/* Parse a finished block, calling fn for each entry.  Returns the number of
 * entries, or -1 if the block is malformed (no final \0, a bare NAME, a bad
 * name or value); fn is then called for no entry. */
int envblock_parse(const char *buf, size_t len,
                   void (*fn)(const char *name, const char *value, void *arg), void *arg);

/* mod_ssl's protocol name for GnuTLS's ("TLS1.3" -> "TLSv1.3"). */
const char *ucspienv_protocol_name(const char *gnutls_name);

#endif
