/* stderr or syslog, one line at a time. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int log_syslog;
static int log_verbosity = LOG_LEVEL_INFO;
static void (*log_sink)(enum log_level, const char *);

void log_init(int use_syslog, int verbosity)
{
	log_syslog = use_syslog;
	log_verbosity = verbosity;
	if (use_syslog)
		openlog("ucspi-tlsd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_forget_syslog(void)
{
	if (log_syslog)
		closelog();
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
	static const int prio[] = { LOG_ERR, LOG_INFO, LOG_DEBUG };
	char buf[512];

	if ((int)level > log_verbosity)
		return;
	if (log_sink) {
		log_sink(level, line);
		return;
	}
	if (log_syslog) {
		syslog(prio[level], "%s", line);
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
