/* The application: forked before the parent reads the key, it drops to the
 * application's uid at once, waits for the engine's start block (delayed
 * mode: the key is fine; immediate mode: the handshake succeeded, with the
 * SSL_* variables), then sets up descriptors, environment and signals and
 * execs.  If the block never comes, the application is never started. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "fds.h"
#include "launch.h"
#include "log.h"
#include "ucspienv.h"

static void drop_privileges(const struct conn *c)
{
	if (setgroups(1, &c->app_gid) < 0 || setresgid(c->app_gid, c->app_gid, c->app_gid) < 0 ||
	    setresuid(c->app_uid, c->app_uid, c->app_uid) < 0) {
		log_error("unable to drop to the application's uid %u: %s", (unsigned)c->app_uid, strerror(errno));
		_exit(EXIT_TEMP);
	}
}

/* Read the start block to EOF.  Nothing means: do not run. */
static size_t read_start_block(int fd, char *buf, size_t max)
{
	size_t len = 0;
	ssize_t k;

	while (len < max && ((k = read(fd, buf + len, max - len)) > 0 || (k < 0 && errno == EINTR)))
		if (k > 0)
			len += (size_t)k;
	close(fd);
	return len;
}

/* SSL_* variables come from the engine only: some servers grant relaying on
 * the mere presence of SSL_CLIENT_S_DN, so none may be inherited.  The
 * entries are taken out of environ directly: unsetenv cannot remove one
 * without '=' (execve allows it), and getenv would not see it, but the
 * application's own environment parser might. */
static void drop_inherited_ssl_vars(void)
{
	char **kept = environ;

	for (char **e = environ; *e; e++)
		if (strncmp(*e, "SSL_", 4) != 0)
			*kept++ = *e;
	*kept = NULL;
}

/* arg: the bool "TLS is offered", cleared by START_NO_TLS. */
static void set_start_var(const char *name, const char *value, void *arg)
{
	if (strncmp(name, "SSL_", 4) == 0)
		setenv(name, value, 1);
	else if (strcmp(name, START_NO_TLS) == 0)
		*(bool *)arg = false;
}

static void set_environment(const struct conn *c, bool tls)
{
	if (!getenv("PROTO") && c->have_addrs) {
		setenv("PROTO", "TCP", 1);
		setenv("TCPLOCALIP", c->local_ip, 1);
		setenv("TCPLOCALPORT", c->local_port, 1);
		setenv("TCPREMOTEIP", c->remote_ip, 1);
		setenv("TCPREMOTEPORT", c->remote_port, 1);
	}
	if (c->cfg->delayed && tls) {
		setenv("UCSPITLS", "", 0);
		setenv("SSLCTLFD", "3", 1);
		setenv("SSLREADFD", "4", 1);
		setenv("SSLWRITEFD", "5", 1);
	} else if (c->cfg->delayed) { /* -o: no STARTTLS on offer */
		unsetenv("UCSPITLS");
		unsetenv("SSLCTLFD");
		unsetenv("SSLREADFD");
		unsetenv("SSLWRITEFD");
	}
	for (const char *const *v = ucspienv_own_vars; *v; v++)
		unsetenv(*v);
	if (c->cfg->app_ids_from_env) { /* -U: they were ours */
		unsetenv("UID");
		unsetenv("GID");
	}
}

/* Put from[i] on to[i], whatever the numbers, and close everything else. */
static void place_fds(const int *from, const int *to, size_t n, int last)
{
	int tmp[8];

	for (size_t i = 0; i < n; i++)
		if ((tmp[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 64)) < 0)
			_exit(EXIT_TEMP);
	for (size_t i = 0; i < n; i++)
		if (dup2(tmp[i], to[i]) < 0) /* dup2 clears close-on-exec */
			_exit(EXIT_TEMP);
	close_range((unsigned)last + 1, ~0U, 0);
}

static void default_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and RT signals glibc uses */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void launch_main(struct conn *c)
{
	struct channels *ch = &c->ch;
	const int keep[] = { ch->start[0], ch->app_in[0], ch->app_out[1], ch->ctl[1], ch->tls_in[0], ch->tls_out[1] };
	static char block[ENVBLOCK_MAX];
	size_t len;
	bool tls = true;

	log_forget_syslog();
	fds_close_except(keep, c->cfg->delayed ? 6 : 3);
	drop_privileges(c);
	len = read_start_block(ch->start[0], block, sizeof block);
	drop_inherited_ssl_vars();
	if (len == 0 || envblock_parse(block, len, set_start_var, &tls) < 0)
		_exit(EXIT_TEMP); /* the engine or the parent has said why */
	set_environment(c, tls);
	if (c->fd2_is_network)
		fds_null(2); /* never let the application write on the socket */
	if (c->cfg->delayed && tls) {
		const int from[] = { ch->app_in[0], ch->app_out[1], ch->ctl[1], ch->tls_in[0], ch->tls_out[1] };
		const int to[] = { 0, 1, APP_CTL_FD, APP_READ_FD, APP_WRITE_FD };
		place_fds(from, to, 5, APP_WRITE_FD);
	} else {
		const int from[] = { ch->app_in[0], ch->app_out[1] };
		const int to[] = { 0, 1 };
		place_fds(from, to, 2, 2);
	}
	default_signals();
	execvp(c->cfg->app_argv[0], c->cfg->app_argv);
	log_error("unable to run %s: %s", c->cfg->app_argv[0], strerror(errno));
	_exit(EXIT_TEMP);
}
