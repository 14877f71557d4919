/* libFuzzer harness: the TLS engine fed arbitrary network bytes, in
 * immediate mode or (built with -DFUZZ_STARTTLS) in delayed mode, before
 * and right after STARTTLS: a thread plays the application, which asks for
 * TLS when the client's plaintext has a STARTTLS line.
 *
 * It runs the engine's real code (engine_prepare, engine_serve: src/engine.c,
 * relay.c, session.c, certstore.c) in this process, over socketpairs and
 * pipes laid out as ucspi-tlsd lays them out, but without the jail and the
 * seccomp policy: the stubs below abort if anything calls them.  The engine
 * ends with _exit(); the harness is linked with -Wl,--wrap=_exit and jumps
 * back here instead.  A thread plays the key keeper: it checks every sign
 * request with the parent's own validator (a request it would refuse is a
 * bug: the engine must only ask for what the key can give) and signs with
 * the keys made at start-up (nothing on disk). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "../../sandbox/jail.h"
#include "../../sandbox/policy.h"
#include "certstore.h"
#include "conn.h"
#include "engine.h"
#include "log.h"

#ifdef FUZZ_STARTTLS
#define DELAYED true
#else
#define DELAYED false
#endif

/* ---- the sandbox is not part of this harness ---- */

uid_t jail_connection_uid(pid_t pid)
{
	(void)pid;
	abort();
}

const char *jail_enter(const char *dir, uid_t uid, gid_t gid, int max_fd)
{
	(void)dir, (void)uid, (void)gid, (void)max_fd;
	abort();
}

const char *policy_engine_load(const int *fds, size_t nfds)
{
	(void)fds, (void)nfds;
	abort();
}

/* The engine is one process per connection and frees little of what it
 * sets up for its one session (the key stand-ins of make_session among
 * them): exit does.  Here that would be a leak per input, so no leak
 * check; the sanitizers' other checks all stay. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

/* ---- the engine's _exit comes back here ---- */

static jmp_buf engine_done;
static bool engine_running;

void __real__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code) __attribute__((noreturn));

void __wrap__exit(int code)
{
	if (engine_running) {
		engine_running = false;
		longjmp(engine_done, 1);
	}
	__real__exit(code);
}

/* ---- set-up, once ---- */

/* What the configuration names as files (certificates, the client CA) are
 * memfds, read through /proc/self/fd: nothing on disk. */
static struct config cfg;
static struct conn proto; /* the certificates and the priority: every connection's */
static gnutls_privkey_t server_keys[3];
static char paths[4][32];

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "fuzz-engine: %s\n", what);
	abort();
}

static const char *memfd_file(char path[32], const gnutls_datum_t *content)
{
	int fd = memfd_create("fuzz-engine", 0);

	if (fd < 0 || write(fd, content->data, content->size) != (ssize_t)content->size)
		die("cannot write a memfd");
	snprintf(path, 32, "/proc/self/fd/%d", fd);
	return path;
}

/* A self-signed certificate for mail.example.org (the SNI of the seeds),
 * as a PEM file; its key stays in memory for the keeper. */
static const char *make_certificate(gnutls_pk_algorithm_t pk, unsigned bits, gnutls_privkey_t *key, char path[32])
{
	static const char name[] = "mail.example.org";
	gnutls_x509_privkey_t xkey;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t pem;
	unsigned char serial = 1;
	time_t now = time(NULL);

	if (gnutls_x509_privkey_init(&xkey) < 0 || gnutls_x509_privkey_generate(xkey, pk, bits, 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, &serial, 1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name, sizeof name - 1) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, sizeof name - 1, GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 || gnutls_x509_crt_set_key(crt, xkey) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, xkey, GNUTLS_DIG_SHA512, 0) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0 || gnutls_privkey_init(key) < 0 ||
	    gnutls_privkey_import_x509(*key, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
		die("cannot make a key and certificate");
	gnutls_x509_crt_deinit(crt);
	memfd_file(path, &pem);
	gnutls_free(pem.data);
	return path;
}

/* One certificate of each key type, read by the real certstore code; the
 * engine picks one by the client's signature algorithms. */
static void make_certificates(void)
{
	static const struct { gnutls_pk_algorithm_t pk; unsigned bits; } kinds[] = {
		{ GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) },
		{ GNUTLS_PK_RSA, 2048 },
		{ GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519) },
	};

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const char *file = make_certificate(kinds[i].pk, kinds[i].bits, &server_keys[i], paths[i]);
		const char *err = certstore_add(&proto.certs, file, file);
		if (err)
			die(err);
	}
}

static const char *no_environment(const char *name)
{
	(void)name;
	return NULL;
}

/* Immediate mode: -x (an unknown SNI is refused), ALPN and session
 * tickets.  Delayed mode: client certificates asked for (the first
 * certificate is the CA), so tickets are off as ucspi-tlsd.c turns them
 * off without -e. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *immediate[] = { "ucspi-tlsd", "-v", "-T", "60", "-c", "unused", "-x", "-L", "smtp,h2", "app", NULL };
	char *delayed[] = { "ucspi-tlsd", "-v", "-T", "60", "-c", "unused", "-n", "-L", "smtp", "-a", paths[0], "app", NULL };
	char **args = DELAYED ? delayed : immediate;
	const char *err;

	(void)argc, (void)argv;
	make_certificates();
	if (options_parse(&cfg, DELAYED ? 12 : 10, args, no_environment, &err) != OPTIONS_OK)
		die(err);
	log_init(0, LOG_LEVEL_DEBUG, cfg.syslog_facility); /* the engine's debug lines run too */
	/* as ucspi-tlsd.c's load_priority() makes it */
	if (gnutls_priority_init(&proto.priority, DEFAULT_PRIORITY ":-RSA", NULL) < 0)
		die("bad priority string");
	proto.cfg = &cfg;
	proto.tickets = !DELAYED;
	if (gnutls_rnd(GNUTLS_RND_RANDOM, proto.ticket_key, sizeof proto.ticket_key) < 0)
		die("no random bytes");
	return 0;
}

/* ---- the key keeper ---- */

static void keeper_reply(int fd, uint32_t status, const gnutls_datum_t *sig)
{
	struct krep rep = { .h = { status, sig ? sig->size : 0 } };

	if (sig)
		memcpy(rep.sig, sig->data, sig->size);
	send(fd, &rep, sizeof rep.h + rep.h.len, MSG_NOSIGNAL);
}

/* As keeper.c signs, once the parent's validator has passed the request. */
static void keeper_sign(int fd, const struct kreq *req)
{
	gnutls_datum_t in = { (unsigned char *)req->data, req->h.len }, sig = { NULL, 0 };
	const char *why = kreq_check_sign(req, proto.certs.keys, proto.certs.n);
	gnutls_privkey_t key;
	int ret;

	if (why) {
		fprintf(stderr, "fuzz-engine: the engine asked for a signature the keeper refuses: %s\n", why);
		abort();
	}
	key = server_keys[req->h.key];
	if (req->h.op == KMSG_SIGN_DATA)
		ret = gnutls_privkey_sign_data2(key, req->h.algo, 0, &in, &sig);
	else if (req->h.algo == GNUTLS_SIGN_RSA_RAW)
		ret = gnutls_privkey_sign_hash(key, 0, GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA, &in, &sig);
	else
		ret = gnutls_privkey_sign_hash2(key, req->h.algo, 0, &in, &sig);
	if (ret < 0)
		die("signing failed");
	keeper_reply(fd, KREP_SIGNED, &sig);
	gnutls_free(sig.data);
}

/* Until the engine's end closes: every message must be well formed. */
static void *keeper(void *arg)
{
	int fd = *(int *)arg;
	unsigned char buf[sizeof(struct kreq) + 1];
	struct kreq req;
	ssize_t k;

	keeper_reply(fd, KREP_READY, NULL);
	while ((k = recv(fd, buf, sizeof buf, 0)) > 0) {
		const char *why = kreq_decode(buf, (size_t)k, &req);
		if (why) {
			fprintf(stderr, "fuzz-engine: malformed message from the engine: %s\n", why);
			abort();
		}
		if (req.h.op == KMSG_SIGN_HASH || req.h.op == KMSG_SIGN_DATA)
			keeper_sign(fd, &req);
	}
	return NULL;
}

/* ---- one connection ---- */

static struct conn conn;

static void make_channels(int net[2])
{
	struct channels *ch = &conn.ch;

	conn = proto;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, net) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ch->key) < 0 ||
	    pipe(ch->start) < 0 || pipe(ch->app_in) < 0 || pipe(ch->app_out) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, ch->ctl) < 0 || pipe(ch->tls_in) < 0 || pipe(ch->tls_out) < 0)
		die("out of descriptors");
	conn.parent = getpid();
	conn.net_in = net[1];
	conn.net_out = dup(net[1]);
	if (conn.net_out < 0)
		die("out of descriptors");
}

/* The engine closed some of these itself; nothing opened a descriptor
 * since, so the EBADF of closing them again is all that can happen. */
static void close_channels(int net[2])
{
	int *fds = &conn.ch.key[0];

	for (size_t i = 0; i < sizeof conn.ch / sizeof(int); i++)
		close(fds[i]);
	close(net[0]);
	close(conn.net_in);
	close(conn.net_out);
}

static void write_or_die(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		die("short write");
}

/* What reaches the engine before it runs: the client's bytes, and their
 * end unless the application will ask for TLS (it then closes them after
 * its 'Y': a client that closes before that does not handshake). */
static void queue_input(int net, const uint8_t *data, size_t size, bool starttls)
{
	if (size)
		write_or_die(net, data, size);
	if (!starttls)
		shutdown(net, SHUT_WR);
}

/* ---- the application, in delayed mode ---- */

static bool is_starttls(const char *line, size_t len)
{
	return (len == 10 && strncasecmp(line, "STARTTLS\r\n", 10) == 0) ||
	       (len == 9 && strncasecmp(line, "STARTTLS\n", 9) == 0);
}

/* Will the application see a STARTTLS line?  Only before the first line
 * that starts like a TLS record: relay.c holds the bytes from there on
 * until the application decides (or the client closes). */
static bool app_will_ask(const uint8_t *p, size_t n)
{
	if (!DELAYED)
		return false;
	for (size_t i = 0; i < n;) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
		if (p[i] == 0x16 && (n - i < 2 || p[i + 1] == 0x03) && (n - i < 3 || p[i + 2] <= 0x04))
			return false;
		if (nl && is_starttls((const char *)p + i, len))
			return true;
		i += len;
	}
	return false;
}

static int client; /* the harness's end of the network socket */

/* Reads what the client sent through the engine's plaintext phase until a
 * STARTTLS line, then answers 220 and asks for TLS with 'Y', as a
 * UCSPI-TLS SMTP server does.  At the end of the input without one, it
 * declines (the control socket's EOF) and ends its output. */
static void *application(void *arg)
{
	struct channels *ch = arg;
	static const char reply[] = "220 ready to start TLS\r\n";
	char buf[4096], line[16];
	size_t len = 0;
	ssize_t k;
	sigset_t pipe_signal;

	/* the engine may have closed its ends: EPIPE for this thread, not a
	 * SIGPIPE that ends the process */
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);
	while ((k = read(ch->app_in[0], buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < k; i++) {
			if (len < sizeof line)
				line[len++] = buf[i];
			if (buf[i] != '\n')
				continue;
			if (is_starttls(line, len)) {
				write(ch->app_out[1], reply, sizeof reply - 1);
				write(ch->ctl[1], "Y", 1);
				shutdown(client, SHUT_WR); /* the end of the client's bytes */
				return NULL;
			}
			len = 0;
		}
	shutdown(ch->ctl[1], SHUT_WR);
	close(ch->app_out[1]);
	ch->app_out[1] = -1;
	return NULL;
}

static void free_session(gnutls_session_t s)
{
	gnutls_certificate_credentials_t cred = NULL;

	gnutls_credentials_get(s, GNUTLS_CRD_CERTIFICATE, (void **)&cred);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static gnutls_session_t s; /* static: setjmp keeps it */
	int net[2];
	pthread_t keeper_thread, app_thread;

	/* a socket buffer holds it all: the engine reads after we write */
	if (size > 65536)
		return -1;
	make_channels(net);
	client = net[0];
	queue_input(net[0], data, size, app_will_ask(data, size));
	if (pthread_create(&keeper_thread, NULL, keeper, &conn.ch.key[0]) != 0 ||
	    (DELAYED && pthread_create(&app_thread, NULL, application, &conn.ch) != 0))
		die("cannot start a thread");
	s = NULL;
	if (setjmp(engine_done) == 0) {
		engine_running = true;
		s = engine_prepare(&conn);
		engine_serve(s);
	}
	shutdown(conn.ch.key[1], SHUT_RDWR);
	pthread_join(keeper_thread, NULL);
	if (DELAYED) {
		close(conn.ch.app_in[1]); /* if the engine has not: the application's EOF */
		pthread_join(app_thread, NULL);
	}
	if (s)
		free_session(s);
	close_channels(net);
	return 0;
}
