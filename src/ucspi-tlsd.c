/* ucspi-tlsd: options and environment -> the three roles, exit status.
 *
 * Per connection: the parent (key keeper) prepares the public material,
 * forks the TLS engine and the application launcher, and only then reads
 * the private key (keeper.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "../sandbox/jail.h"
#include "config.h"
#include "conn.h"
#include "fds.h"
#include "keeper.h"
#include "log.h"
#include "options.h"
#include "tickets.h"
#include "ucspienv.h"

static struct config cfg;
static struct conn C;

static const char *env_lookup(const char *name)
{
	return getenv(name);
}

__attribute__((noreturn, format(printf, 2, 3))) static void die(int code, const char *fmt, ...)
{
	char line[KMSG_MAXTEXT - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_error("%s", line);
	if (code == EXIT_TEMP && C.cfg) { /* a connection that never got going */
		char summary[KMSG_MAXTEXT + 1];
		snprintf(summary, sizeof summary, "proto=none reason=\"%s\"", line);
		keeper_log_done(&C, summary, code);
	}
	_exit(code);
}

static int parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 0xfffffffeUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void resolve_user(const char *user, const char *flag, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		die(EXIT_USAGE, "%s %s: no such user", flag, user ? user : "");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

static void resolve_ids(const char *uid_s, const char *gid_s, const char *what, uid_t *uid, gid_t *gid)
{
	unsigned u, g;

	if (parse_id(uid_s, &u) < 0 || parse_id(gid_s, &g) < 0)
		die(EXIT_USAGE, "%s: %s", what, "not numeric ids");
	*uid = u;
	*gid = g;
}

/* Who the application and the engine run as. */
static void resolve_identities(void)
{
	if (geteuid() != 0)
		die(EXIT_USAGE, "%s", "must be started as root: the engine's jail needs chroot and its own uid");
	if (cfg.app_user)
		resolve_user(cfg.app_user, "-u", &C.app_uid, &C.app_gid);
	else if (cfg.app_uid)
		resolve_ids(cfg.app_uid, cfg.app_gid, "UID and GID", &C.app_uid, &C.app_gid);
	else
		die(EXIT_USAGE, "%s", "no application user: give -u user, or -U with UID and GID set");
	if (C.app_uid == 0 || C.app_gid == 0)
		die(EXIT_USAGE, "%s", "the application must not run as root (uid or gid 0)");
	if (cfg.tls_user)
		resolve_user(cfg.tls_user, "-j", &C.tls_uid, &C.tls_gid);
	else if (cfg.tls_uid)
		resolve_ids(cfg.tls_uid, cfg.tls_gid, "TLS_UID and TLS_GID", &C.tls_uid, &C.tls_gid);
	else
		C.tls_uid_per_connection = true;
	if (!C.tls_uid_per_connection && (C.tls_uid == 0 || C.tls_gid == 0))
		die(EXIT_USAGE, "%s", "the engine must not run as root (uid or gid 0)");
}

static void network_addresses(void)
{
	struct sockaddr_storage local, remote;
	socklen_t ll = sizeof local, rl = sizeof remote;

	C.have_addrs = getsockname(C.net_in, (struct sockaddr *)&local, &ll) == 0 &&
	               getpeername(C.net_in, (struct sockaddr *)&remote, &rl) == 0 &&
	               ucspienv_format_addr(&local, C.local_ip, C.local_port) == 0 &&
	               ucspienv_format_addr(&remote, C.remote_ip, C.remote_port) == 0;
}

/* A certificate problem ends the connection, or with -o (delayed mode)
 * starts the application without TLS. */
static void certificate_problem(const char *what, const char *file, const char *problem)
{
	if (!cfg.fallback)
		die(EXIT_TEMP, "%s %s: %s", what, file, problem);
	keeper_no_tls(&C, what, file, problem);
}

/* The certificate chains and their keys' public facts, parsed once here
 * so that the engine inherits them. */
static void load_certificates(void)
{
	const char *problem, *file;

	if ((problem = certstore_add(&C.certs, cfg.certfile, cfg.keyfile)))
		certificate_problem("certificate file", cfg.certfile, problem);
	else if (cfg.certdir && (problem = certstore_add_dir(&C.certs, cfg.certdir, &file)))
		certificate_problem(file == cfg.certdir ? "-d" : "certificate file", file, problem);
	else
		certstore_load_ocsp(&C.certs);
}

/* RSA key exchange is removed from any string: the key keeper has no
 * decrypt operation, so it could only fail, late and obscurely. */
static void load_priority(void)
{
	char full[1024];
	const char *where = NULL;

	if ((size_t)snprintf(full, sizeof full, "%s:-RSA", cfg.priority) >= sizeof full)
		die(EXIT_USAGE, "%s", "-p: priority string too long");
	if (gnutls_priority_init(&C.priority, full, &where) < 0)
		die(EXIT_USAGE, "-p: bad priority string at '%.*s'", where ? (int)strcspn(where, ":") : 0, where ? where : "");
}

/* -a/-A and -C files are read by GnuTLS (fopen) in the engine, and hashed
 * here with -e: a FIFO there would block either for ever. */
static void check_client_cert_files(void)
{
	const char *problem;

	if (cfg.client_certs == CLIENT_CERTS_NONE)
		return;
	if ((problem = fds_file_problem(cfg.client_ca)))
		die(EXIT_TEMP, "-%c %s: %s", cfg.client_certs == CLIENT_CERTS_REQUIRE ? 'A' : 'a', cfg.client_ca, problem);
	if (cfg.client_crl && (problem = fds_file_problem(cfg.client_crl)))
		die(EXIT_TEMP, "-C %s: %s", cfg.client_crl, problem);
}

/* -e: the ticket key bound to the client-certificate policy (tickets.h).
 * An unreadable CA file is hashed as empty: every session then fails in
 * the engine, with the file's name. */
static int bind_client_cert_policy(void)
{
	unsigned char context[1 + 32];
	gnutls_datum_t ca = { NULL, 0 };
	int ret;

	if (cfg.client_certs == CLIENT_CERTS_NONE)
		return 0;
	context[0] = cfg.client_certs == CLIENT_CERTS_REQUIRE ? 'A' : 'a';
	if (gnutls_load_file(cfg.client_ca, &ca) < 0)
		ca.size = 0;
	ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, ca.data ? ca.data : context, ca.size, context + 1);
	gnutls_free(ca.data);
	return ret < 0 ? ret : tickets_bind(C.ticket_key, context, sizeof context);
}

/* Tickets stay off with client certificates unless -e: a ticket carries the
 * client's identity, and the engine that holds the ticket key could mint one. */
static void load_ticket_key(void)
{
	const char *problem;

	if (!cfg.ticket_keyfile)
		return;
	if (cfg.client_certs != CLIENT_CERTS_NONE && !cfg.tickets_with_client_certs) {
		log_debug("session tickets off: client certificates are asked for (-e enables them)");
		return;
	}
	if (!tickets_version_ok(gnutls_check_version(NULL)))
		die(EXIT_USAGE, "-s: session tickets need GnuTLS 3.6.14 or later (this is %s)", gnutls_check_version(NULL));
	if ((problem = tickets_engine_key(cfg.ticket_keyfile, time(NULL), TICKET_PERIOD, C.ticket_key)) ||
	    (bind_client_cert_policy() < 0 && (problem = "cannot derive the key")))
		die(EXIT_TEMP, "ticket key file %s: %s", cfg.ticket_keyfile, problem);
	C.tickets = true;
}

static void make_channels(void)
{
	struct channels *ch = &C.ch;
	int ok = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch->key) == 0 &&
	         pipe2(ch->start, O_CLOEXEC) == 0 && pipe2(ch->app_in, O_CLOEXEC) == 0 &&
	         pipe2(ch->app_out, O_CLOEXEC) == 0;

	ch->ctl[0] = ch->ctl[1] = ch->tls_in[0] = ch->tls_in[1] = ch->tls_out[0] = ch->tls_out[1] = -1;
	if (ok && cfg.delayed)
		ok = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch->ctl) == 0 &&
		     pipe2(ch->tls_in, O_CLOEXEC) == 0 && pipe2(ch->tls_out, O_CLOEXEC) == 0;
	if (!ok)
		die(EXIT_TEMP, "cannot create descriptors: %s", strerror(errno));
}

static pid_t spawn(void (*role)(struct conn *))
{
	pid_t pid = fork();

	if (pid < 0)
		die(EXIT_TEMP, "fork: %s", strerror(errno));
	if (pid == 0)
		role(&C);
	return pid;
}

/* The parent keeps no descriptor of the network or the children's ends
 * (closed one by one: the syslog socket stays). */
static void parent_lets_go(void)
{
	struct channels *ch = &C.ch;
	int *theirs[] = { &ch->key[1], &ch->start[0], &ch->start[1], &ch->app_in[0], &ch->app_in[1],
	                  &ch->app_out[0], &ch->app_out[1], &ch->ctl[0], &ch->ctl[1], &ch->tls_in[0],
	                  &ch->tls_in[1], &ch->tls_out[0], &ch->tls_out[1], &C.net_in, &C.net_out };

	if (C.net_out == C.net_in)
		C.net_out = -1; /* one descriptor, closed once */
	for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++)
		if (*theirs[i] >= 0) {
			close(*theirs[i]);
			*theirs[i] = -1;
		}
	fds_null(0);
	fds_null(1);
	if (C.fd2_is_network)
		fds_null(2);
}

/* One line: the synopsis is for -h. */
static void usage_exit(const char *err)
{
	log_error("usage: %s (ucspi-tlsd -h for the synopsis)", err);
	_exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	const char *err, *jail_err;

	fds_ensure_std();
	/* inetd and xinetd pass the socket on fd 2 too: never write on it */
	C.fd2_is_network = fds_same_file(0, 2);
	switch (options_parse(&cfg, argc, argv, env_lookup, &err)) {
	case OPTIONS_HELP:
		fputs(options_usage, stdout);
		return 0;
	case OPTIONS_VERSION:
		puts(PACKAGE_STRING);
		return 0;
	case OPTIONS_USAGE:
		log_init(C.fd2_is_network, 1, LOG_MAIL);
		usage_exit(err);
	case OPTIONS_OK:
		break;
	}
	log_init(C.fd2_is_network, cfg.verbosity, cfg.syslog_facility);
	gnutls_global_set_log_function(log_gnutls);
	C.cfg = &cfg;
	/* GnuTLS initialises itself as it loads, unless GNUTLS_NO_IMPLICIT_INIT
	 * is set: then every call failed with "an error has been detected in
	 * the library", named after the certificate file */
	if (gnutls_global_init() < 0)
		die(EXIT_TEMP, "%s", "cannot initialise GnuTLS");
	signal(SIGPIPE, SIG_IGN);
	/* an ignored SIGCHLD survives execve, and would have the kernel reap
	 * the children: their exit statuses, ours, lost */
	signal(SIGCHLD, SIG_DFL);
	C.net_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
	C.net_out = fds_same_file(0, 1) ? C.net_in : fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (C.net_in < 0 || C.net_out < 0)
		die(EXIT_TEMP, "cannot copy the network descriptors: %s", strerror(errno));
	network_addresses();
	resolve_identities();
	if ((jail_err = jail_check_dir(cfg.jail_dir)))
		die(EXIT_USAGE, "-J %s: %s", cfg.jail_dir, jail_err);
	load_certificates();
	load_priority();
	check_client_cert_files();
	load_ticket_key();
	make_channels();
	C.parent = getpid();
	/* the application first: the engine watches for its exit */
	pid_t app = C.app = spawn(launch_main);
	pid_t engine = spawn(engine_main);
	parent_lets_go();
	return keeper_run(&C, engine, app);
}
