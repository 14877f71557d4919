/* tinysmtp: the smallest SMTP server that a benchmark needs, so that the
 * application's own cost stays negligible next to the TLS helper's.
 *
 * It speaks on fds 0/1 (a socket under tcpserver, pipes under a helper).
 * With UCSPITLS in its environment it offers STARTTLS and starts TLS the
 * UCSPI-TLS way: it writes its 220, sends 'Y' on SSLCTLFD, reads the reply
 * block (NAME=value NUL ... NUL) and from then on talks on SSLREADFD and
 * SSLWRITEFD.  Without UCSPITLS it is a plain server (a helper in front of
 * it, tlswrapper-smtp or stunnel, handles STARTTLS itself).
 *
 * DATA is counted, not stored; the 250 after it says how many bytes came,
 * so a client can check that nothing was lost.  Exit 0 after QUIT or EOF,
 * 111 on an I/O or UCSPI-TLS error. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	int in, out;
	char buf[65536];
	size_t off, len;
} io = { .in = 0, .out = 1 };

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "tinysmtp: %s\n", what);
	exit(111);
}

/* A descriptor may be non-blocking (stunnel's exec makes it so): wait. */
static int retry(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (errno == EINTR)
		return 1;
	return errno == EAGAIN && poll(&p, 1, -1) >= 0;
}

static void say(const char *text)
{
	size_t n = strlen(text);

	while (n) {
		ssize_t k = write(io.out, text, n);
		if (k < 0 && retry(io.out, POLLOUT))
			continue;
		if (k <= 0)
			die("write error");
		text += k;
		n -= (size_t)k;
	}
}

/* Refill the input buffer; 0 at EOF. */
static int fill(void)
{
	ssize_t k;

	if (io.off == io.len)
		io.off = io.len = 0;
	if (io.len == sizeof io.buf) { /* a line longer than the buffer: drop it */
		io.off = io.len = 0;
	}
	do
		k = read(io.in, io.buf + io.len, sizeof io.buf - io.len);
	while (k < 0 && retry(io.in, POLLIN));
	if (k < 0)
		die("read error");
	io.len += (size_t)k;
	return k > 0;
}

/* The next line without its CRLF (in place, NUL-terminated); NULL at EOF. */
static char *next_line(size_t *n)
{
	for (;;) {
		char *start = io.buf + io.off;
		char *nl = memchr(start, '\n', io.len - io.off);
		if (nl) {
			*n = (size_t)(nl - start);
			io.off += *n + 1;
			if (*n && start[*n - 1] == '\r')
				(*n)--;
			start[*n] = '\0';
			return start;
		}
		if (io.off) { /* keep the partial line at the front */
			memmove(io.buf, start, io.len - io.off);
			io.len -= io.off;
			io.off = 0;
		}
		if (!fill())
			return NULL;
	}
}

/* The message, up to the "." line; returns its size in bytes. */
static unsigned long long read_data(void)
{
	unsigned long long bytes = 0;
	size_t n;
	char *line;

	while ((line = next_line(&n))) {
		if (n == 1 && line[0] == '.')
			return bytes;
		bytes += n + 2;
	}
	die("EOF in DATA");
}

static int read_fd_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		die("UCSPITLS set without its descriptors");
	return atoi(v);
}

/* UCSPI-TLS: 'Y', then the reply block must name the protocol. */
static void start_tls(void)
{
	int ctl = read_fd_env("SSLCTLFD");
	char block[4096];
	size_t len = 0;
	ssize_t k;

	if (io.off != io.len)
		die("plaintext after STARTTLS");
	say("220 ready to start TLS\r\n");
	if (write(ctl, "Y", 1) != 1)
		die("cannot write on SSLCTLFD");
	while (len < sizeof block && (k = read(ctl, block + len, sizeof block - len)) > 0)
		len += (size_t)k;
	close(ctl);
	if (len < 2 || block[len - 1] != '\0' || block[len - 2] != '\0' || strncmp(block, "SSL_PROTOCOL=", 13) != 0)
		die("no TLS: the Y reply is missing or malformed");
	io.in = read_fd_env("SSLREADFD");
	io.out = read_fd_env("SSLWRITEFD");
}

static int is(const char *line, const char *verb)
{
	return strncasecmp(line, verb, strlen(verb)) == 0;
}

int main(void)
{
	int can_starttls = getenv("UCSPITLS") != NULL;
	char reply[64];
	size_t n;
	char *line;

	say("220 tinysmtp ESMTP\r\n");
	while ((line = next_line(&n))) {
		if (is(line, "EHLO") || is(line, "HELO")) {
			say(can_starttls ? "250-tinysmtp\r\n250-STARTTLS\r\n250 8BITMIME\r\n" : "250-tinysmtp\r\n250 8BITMIME\r\n");
		} else if (is(line, "STARTTLS") && can_starttls) {
			start_tls();
			can_starttls = 0;
		} else if (is(line, "MAIL") || is(line, "RCPT") || is(line, "RSET") || is(line, "NOOP")) {
			say("250 ok\r\n");
		} else if (is(line, "DATA")) {
			say("354 go ahead\r\n");
			snprintf(reply, sizeof reply, "250 ok %llu bytes\r\n", read_data());
			say(reply);
		} else if (is(line, "QUIT")) {
			say("221 bye\r\n");
			return 0;
		} else {
			say("502 unknown command\r\n");
		}
	}
	return 0;
}
