/* stderr or syslog, one line at a time.
 *
 * The syslog client is our own, not glibc's syslog(3): the parent logs
 * under a seccomp policy that kills it on socket() or connect(), and glibc
 * reconnects with both whenever a send fails (syslogd restarted, or absent
 * at start).  Here the socket is connected once, at start-up, and a line
 * that cannot be sent is dropped. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_syslog;
static int syslog_fd = -1;
static int syslog_stream; /* a stream socket: lines end with a NUL */
static int syslog_lazy;   /* connect at the next line (a child, no seccomp) */
static int log_verbosity = LOG_LEVEL_INFO;
static int log_facility = LOG_MAIL;
static void (*log_sink)(enum log_level, const char *);
static unsigned gnutls_lines_left = UINT_MAX;

static int syslog_connect(int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = _PATH_LOG };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void syslog_open(void)
{
	syslog_fd = syslog_connect(SOCK_DGRAM);
	if (syslog_fd < 0) {
		syslog_fd = syslog_connect(SOCK_STREAM);
		syslog_stream = syslog_fd >= 0;
	}
}

void log_init(int use_syslog, int verbosity, int facility)
{
	log_syslog = use_syslog;
	log_verbosity = verbosity;
	log_facility = facility;
	if (!use_syslog || syslog_fd >= 0)
		return;
	tzset(); /* the time zone file is read now, never under seccomp */
	syslog_open();
}

void log_forget_syslog(void)
{
	if (syslog_fd >= 0)
		close(syslog_fd);
	syslog_fd = -1;
	syslog_lazy = 1;
}

/* RFC 3164, as syslog(3) sends it: <priority>timestamp tag[pid]: text */
static void syslog_send(enum log_level level, const char *line)
{
	static const int prio[] = { LOG_ERR, LOG_INFO, LOG_DEBUG };
	char buf[600], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (syslog_fd < 0 && syslog_lazy)
		syslog_open();
	if (syslog_fd < 0)
		return;
	strftime(stamp, sizeof stamp, "%h %e %T", localtime_r(&now, &tm));
	n = snprintf(buf, sizeof buf, "<%d>%s ucspi-tlsd[%ld]: %s", log_facility | prio[level], stamp, (long)getpid(), line);
	if (n >= (int)sizeof buf)
		n = sizeof buf - 1;
	while (send(syslog_fd, buf, (size_t)n + (size_t)syslog_stream, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

void log_redirect(void (*fn)(enum log_level, const char *))
{
	log_sink = fn;
}

void log_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void log_line(enum log_level level, const char *line)
{
	char buf[512];

	if ((int)level > log_verbosity)
		return;
	if (log_sink) {
		log_sink(level, line);
		return;
	}
	if (log_syslog) {
		syslog_send(level, line);
		return;
	}
	/* one write per line, so that concurrent processes do not interleave */
	int n = snprintf(buf, sizeof buf, "ucspi-tlsd[%ld]: %s\n", (long)getpid(), line);
	if (n > (int)sizeof buf - 1) {
		n = sizeof buf - 1;
		buf[n - 1] = '\n';
	}
	if (write(2, buf, (size_t)n) < 0) {
		/* nowhere left to complain */
	}
}

static void log_v(enum log_level level, const char *fmt, va_list ap)
{
	char line[480];

	if ((int)level > log_verbosity)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	log_sanitize(line);
	log_line(level, line);
}

#define LOG_FN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_v(level, fmt, ap); \
		va_end(ap); \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void log_gnutls(int level, const char *text)
{
	(void)level;
	if (log_verbosity < LOG_LEVEL_DEBUG || gnutls_lines_left == 0)
		return;
	gnutls_lines_left--;
	log_debug("gnutls: %.*s", (int)strcspn(text, "\n"), text);
}

void log_limit_gnutls(unsigned n)
{
	gnutls_lines_left = n;
}
