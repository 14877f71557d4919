/* UCSPI (TCP*) and SSL_* variables, the Y reply block.  Pure code. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "ucspienv.h"

const char *const ucspienv_own_vars[] = {
	"CERTFILE", "KEYFILE", "TLS_UID", "TLS_GID", NULL,
};

int ucspienv_format_addr(const struct sockaddr_storage *sa, char ip[46], char port[6])
{
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, 46);
		snprintf(port, 6, "%u", (unsigned)ntohs(in->sin_port));
		return 0;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, 46);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, 46);
		snprintf(port, 6, "%u", (unsigned)ntohs(in6->sin6_port));
		return 0;
	}
	return -1;
}

static int name_valid(const char *name, size_t len)
{
	if (len == 0 || len > ENVBLOCK_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int value_valid(const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
			return 0;
	return 1;
}

void envblock_init(struct envblock *b)
{
	b->len = 0;
	b->count = 0;
}

int envblock_add(struct envblock *b, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);

	if (!name_valid(name, nlen))
		return -1;
	/* name '=' value '\0', and room kept for the final "\0\0" */
	if (nlen + 1 + vlen + 1 + 2 > sizeof b->buf - b->len)
		return -1;
	memcpy(b->buf + b->len, name, nlen);
	b->len += nlen;
	b->buf[b->len++] = '=';
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)value[i];
		b->buf[b->len++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	b->buf[b->len++] = '\0';
	b->count++;
	return 0;
}

size_t envblock_finish(struct envblock *b)
{
	if (b->count == 0)
		b->buf[b->len++] = '\0';
	b->buf[b->len++] = '\0';
	return b->len;
}

/* One pass to validate, so that a malformed block sets nothing. */
static int envblock_walk(const char *buf, size_t len,
                         void (*fn)(const char *, const char *, void *), void *arg)
{
	size_t pos = 0;
	int n = 0;
	char name[ENVBLOCK_NAME_MAX + 1];

	if (len == 2 && buf[0] == '\0' && buf[1] == '\0')
		return 0;
	while (pos < len && buf[pos] != '\0') {
		const char *entry = buf + pos;
		const char *end = memchr(entry, '\0', len - pos);
		const char *eq = end ? memchr(entry, '=', (size_t)(end - entry)) : NULL;
		if (!eq || !name_valid(entry, (size_t)(eq - entry)) ||
		    !value_valid(eq + 1, (size_t)(end - eq - 1)))
			return -1;
		if (fn) {
			memcpy(name, entry, (size_t)(eq - entry));
			name[eq - entry] = '\0';
			fn(name, eq + 1, arg);
		}
		pos = (size_t)(end - buf) + 1;
		n++;
	}
	/* exactly one terminating \0, and nothing after it */
	if (pos + 1 != len || n == 0)
		return -1;
	return n;
}

int envblock_parse(const char *buf, size_t len,
                   void (*fn)(const char *name, const char *value, void *arg), void *arg)
{
	int n = envblock_walk(buf, len, NULL, NULL);
	if (n > 0)
		envblock_walk(buf, len, fn, arg);
	return n;
}

const char *ucspienv_protocol_name(const char *gnutls_name)
{
	if (!gnutls_name)
		return "unknown";
	if (strcmp(gnutls_name, "TLS1.3") == 0)
		return "TLSv1.3";
	if (strcmp(gnutls_name, "TLS1.2") == 0)
		return "TLSv1.2";
	return gnutls_name;
}
