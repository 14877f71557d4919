/* Logging: stderr, or syslog (facility mail, or -l) when stderr is the network
 * socket, as under inetd and xinetd.  The engine has no log of its own: its
 * lines travel to the parent over the key channel (as OpenSSH's sandboxed
 * child sends its log to the monitor). */
#ifndef UCSPI_TLSD_LOG_H
#define UCSPI_TLSD_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_DEBUG = 2 };

/* use_syslog: log to syslog instead of fd 2.  verbosity: lines above it are
 * dropped.  facility: LOG_MAIL, LOG_LOCAL0, ... (syslog.h). */
void log_init(int use_syslog, int verbosity, int facility);
/* In a child, before it closes descriptors: let go of the syslog socket, so
 * that a later line opens a new one instead of writing on whatever then has
 * the old descriptor's number.  (The parent never calls this: under its
 * seccomp policy it must not open a socket.) */
void log_forget_syslog(void);
/* Send every line to fn instead (the engine's key channel). */
void log_redirect(void (*fn)(enum log_level level, const char *line));
/* Write a line that came from elsewhere (the engine), at its level. */
void log_line(enum log_level level, const char *line);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* GnuTLS's log function (gnutls_global_set_log_function): its debug and
 * audit lines (GNUTLS_DEBUG_LEVEL) go to our log at the debug level, never
 * straight to fd 2, which may be the network, and which the engine may not
 * write.  log_limit_gnutls: at most n more of them (the engine's lines are
 * counted by the parent, which ends a session that sends too many). */
void log_gnutls(int level, const char *text);
void log_limit_gnutls(unsigned n);

/* Replace what is not printable ASCII by '?', in place. */
void log_sanitize(char *s);

#endif
