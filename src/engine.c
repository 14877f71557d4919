/* The TLS engine.  Everything that touches files happens before the jail;
 * after it the engine only reads, writes and polls the descriptors it holds,
 * and reaches the private key through the parent's signing request. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/jail.h"
#include "../sandbox/policy.h"
#include "conn.h"
#include "engine.h"
#include "fds.h"
#include "log.h"
#include "relay.h"
#include "session.h"

/* GNUTLS_DEBUG_LEVEL: GnuTLS's lines the engine passes on, well within the
 * parent's limit on the engine's log lines (keeper.c). */
#define ENGINE_GNUTLS_LINES 16

static struct conn *E;     /* for the GnuTLS callbacks */
static struct relay R;     /* large buffers: not on the stack */
static const char *mode_reason; /* why the session failed, for the summary */

/* ---- the key channel ---- */

static void send_text(uint32_t op, uint32_t level, const char *text)
{
	struct kreq q;
	size_t n = strlen(text);

	if (n > KMSG_MAXTEXT)
		n = KMSG_MAXTEXT;
	memset(&q.h, 0, sizeof q.h);
	q.h.op = op;
	q.h.key = level;
	q.h.len = (uint32_t)n;
	memcpy(q.data, text, n);
	send(E->ch.key[1], &q, sizeof q.h + n, MSG_NOSIGNAL);
}

static void log_to_parent(enum log_level level, const char *line)
{
	send_text(KMSG_LOG, level, line);
}

static int ask_parent(uint32_t op, void *key_index, gnutls_sign_algorithm_t algo, const gnutls_datum_t *in,
                      gnutls_datum_t *sig)
{
	static struct kreq q;
	static struct krep rep;
	ssize_t k;

	if (in->size > SIGNREQ_MAXDATA)
		return GNUTLS_E_PK_SIGN_FAILED;
	memset(&q.h, 0, sizeof q.h);
	q.h.op = op;
	q.h.key = (uint32_t)(uintptr_t)key_index;
	q.h.algo = (uint32_t)algo;
	q.h.len = in->size;
	memcpy(q.data, in->data, in->size);
	if (send(E->ch.key[1], &q, sizeof q.h + in->size, MSG_NOSIGNAL) < 0)
		return GNUTLS_E_PK_SIGN_FAILED;
	k = recv(E->ch.key[1], &rep, sizeof rep, 0);
	if (k < (ssize_t)sizeof rep.h || rep.h.status != KREP_SIGNED || rep.h.len != (size_t)k - sizeof rep.h) {
		log_error("the key keeper refused to sign");
		return GNUTLS_E_PK_SIGN_FAILED;
	}
	sig->data = gnutls_malloc(rep.h.len);
	if (!sig->data)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(sig->data, rep.sig, rep.h.len);
	sig->size = rep.h.len;
	return 0;
}

static int sign_hash_cb(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *ud, unsigned flags,
                        const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
	(void)key, (void)flags;
	return ask_parent(KMSG_SIGN_HASH, ud, algo, hash, sig);
}

static int sign_data_cb(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *ud, unsigned flags,
                        const gnutls_datum_t *data, gnutls_datum_t *sig)
{
	(void)key, (void)flags;
	return ask_parent(KMSG_SIGN_DATA, ud, algo, data, sig);
}

/* ud: the key's index in the certificate table, which the parent shares */
static int key_info_cb(gnutls_privkey_t key, unsigned flags, void *ud)
{
	const struct keyinfo *k = &E->certs.keys[(uintptr_t)ud];

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)k->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)k->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return sign_algo_allowed(k, (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags));
	return -1;
}

/* Block until the parent has loaded the key and found it matches
 * (KREP_READY), or with -o found a problem (KREP_NO_TLS). */
static uint32_t wait_for_keeper(void)
{
	struct krep rep;
	ssize_t k = relay_wait(E->ch.key[1], POLLIN, (int)E->cfg->handshake_timeout * 1000) < 0
	                    ? -1 : recv(E->ch.key[1], &rep, sizeof rep, 0);

	if (k != (ssize_t)sizeof rep.h || (rep.h.status != KREP_READY && rep.h.status != KREP_NO_TLS))
		_exit(EXIT_TEMP); /* the parent has said why */
	return rep.h.status;
}

/* ---- set-up, all before the jail ---- */

static gnutls_session_t make_session(void)
{
	static gnutls_privkey_t keys[CERTSTORE_MAX];
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	const char *err = "unable to set up the TLS session";

	/* The parent checked keys and certificates once; without this flag
	 * GnuTLS would spend the one signature on a self-test. */
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		goto fail;
	gnutls_certificate_set_flags(cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	/* no decrypt callback: RSA key exchange does not exist here */
	for (uintptr_t i = 0; i < E->certs.n; i++)
		if (gnutls_privkey_init(&keys[i]) < 0 ||
		    gnutls_privkey_import_ext4(keys[i], (void *)i, sign_data_cb, sign_hash_cb, NULL, NULL, key_info_cb, 0) < 0)
			goto fail;
	if (!(err = session_new(E, cred, keys, &s)))
		return s;
fail:
	log_error("%s", err);
	_exit(EXIT_TEMP);
}

static int highest(const int *fds, size_t n)
{
	int max = 2;

	for (size_t i = 0; i < n; i++)
		if (fds[i] > max)
			max = fds[i];
	return max;
}

/* fds: the descriptors the engine keeps, the only ones it may read or
 * write once filtered. */
static void enter_jail(const int *fds, size_t n)
{
	uid_t uid = E->tls_uid_per_connection ? jail_connection_uid(getpid()) : E->tls_uid;
	gid_t gid = E->tls_uid_per_connection ? (gid_t)uid : E->tls_gid;
	const char *err = jail_enter(E->cfg->jail_dir, uid, gid, highest(fds, n));

	/* after the uid change, which clears it: the engine never outlives
	 * the parent that waits for it */
	if (!err && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != E->parent))
		err = "the parent is gone";
	if (!err)
		err = policy_engine_load(fds, n);
	if (err) {
		log_error("engine sandbox: %s", err);
		_exit(EXIT_TEMP);
	}
}

/* ---- the handshake ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns NULL on success, else the reason in words.  The timeout covers the
 * whole handshake, reads and writes alike. */
/* The client sent not one byte: on an immediate-TLS port that is a client
 * waiting for a greeting, i.e. a STARTTLS client where -n was forgotten. */
static const char *silent_client(void)
{
	if (R.raw_in || R.held_len)
		return NULL;
	return E->cfg->delayed ? "the client sent nothing after STARTTLS"
	                       : "the client sent nothing (a STARTTLS port needs -n)";
}

static const char *handshake(gnutls_session_t s, unsigned *ms)
{
	static char why[160];
	long long start = now_ms(), deadline = start + (long long)E->cfg->handshake_timeout * 1000;
	const char *err;
	int ret;

	for (;;) {
		ret = gnutls_handshake(s);
		if (ret == 0)
			break;
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(ret)) {
			int out = gnutls_record_get_direction(s);
			long long left = deadline - now_ms();
			if (left <= 0 || relay_wait(out ? R.net_out : R.net_in, out ? POLLOUT : POLLIN, (int)left) < 0) {
				snprintf(why, sizeof why, "handshake timeout%s%s", silent_client() ? ": " : "",
				         silent_client() ? silent_client() : "");
				return why;
			}
			continue;
		}
		if (silent_client())
			snprintf(why, sizeof why, "handshake failed: %s", silent_client());
		else if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
			snprintf(why, sizeof why, "handshake failed: peer sent alert %s",
			         gnutls_alert_get_name(gnutls_alert_get(s)));
		else
			snprintf(why, sizeof why, "handshake failed: %s", gnutls_strerror(ret));
		gnutls_alert_send_appropriate(s, ret);
		return why;
	}
	*ms = (unsigned)(now_ms() - start);
	/* no more signatures: the parent wipes the key now */
	send_text(KMSG_HANDSHAKE_DONE, 0, "");
	if ((err = session_client_cert_problem(s))) {
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_CERTIFICATE_REQUIRED);
		snprintf(why, sizeof why, "handshake failed: %s", err);
		return why;
	}
	return NULL;
}

void engine_session_env(gnutls_session_t s, struct envblock *b)
{
	char bits[16];
	const char *suite = gnutls_ciphersuite_get(s), *sni = session_sni(s);

	envblock_init(b);
	envblock_add(b, "SSL_PROTOCOL", ucspienv_protocol_name(gnutls_protocol_get_name(gnutls_protocol_get_version(s))));
	envblock_add(b, "SSL_CIPHER", suite ? suite : "unknown");
	snprintf(bits, sizeof bits, "%zu", 8 * gnutls_cipher_get_key_size(gnutls_cipher_get(s)));
	envblock_add(b, "SSL_CIPHER_USEKEYSIZE", bits);
	envblock_add(b, "SSL_CIPHER_ALGKEYSIZE", bits);
	envblock_add(b, "SSL_SESSION_RESUMED", gnutls_session_is_resumed(s) ? "Resumed" : "Initial");
	if (sni)
		envblock_add(b, "SSL_TLS_SNI_SERVERNAME", sni);
	session_env(s, b);
}

/* Write all of buf to a non-blocking fd, within the handshake timeout. */
static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = write(fd, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		} else if (relay_wait(fd, POLLOUT, (int)E->cfg->handshake_timeout * 1000) < 0) {
			return -1;
		}
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The application may run now (delayed mode), or has its SSL_* variables
 * (immediate mode). */
static void send_start_block(const struct envblock *b)
{
	if (write_all(E->ch.start[1], b->buf, b->len) < 0)
		log_error("unable to start the application");
	close_fd(&E->ch.start[1]);
}

/* ---- the session's end ---- */

static void summary(gnutls_session_t s, bool tls, unsigned hs_ms)
{
	char line[KMSG_MAXTEXT + 1];
	const char *suite = tls ? gnutls_ciphersuite_get(s) : NULL, *sni = tls ? session_sni(s) : NULL;

	snprintf(line, sizeof line, "proto=%s cipher=%s sni=%s resumed=%s handshake_ms=%u in=%llu out=%llu%s%s%s",
	         tls ? ucspienv_protocol_name(gnutls_protocol_get_name(gnutls_protocol_get_version(s))) : "none",
	         suite ? suite : "-", sni ? sni : "-", tls && gnutls_session_is_resumed(s) ? "yes" : "no", hs_ms,
	         R.bytes_in, R.bytes_out, mode_reason ? " reason=\"" : "", mode_reason ? mode_reason : "",
	         mode_reason ? "\"" : "");
	send_text(KMSG_SUMMARY, 0, line);
}

/* How a session ends: as the application decides (its status is the
 * connection's), or by a failure of ucspi-tlsd itself (status 111: a failed
 * handshake in immediate mode, a control protocol error).  A network error
 * or timeout is logged as the reason but leaves the status to the
 * application, which sees end of file. */
enum ending { ENDED, ENDED_BY_PEER, FAILED };

__attribute__((noreturn)) static void finish(gnutls_session_t s, bool tls, unsigned hs_ms, enum ending how,
                                             const char *reason)
{
	mode_reason = reason;
	if (how != ENDED)
		shutdown(R.net_out, SHUT_RDWR);
	summary(s, tls, hs_ms);
	_exit(how == FAILED ? EXIT_TEMP : 0);
}

/* TLS is up: relay the application's pipes through the record layer. */
__attribute__((noreturn)) static void run_tls(gnutls_session_t s, int to_app, int from_app, unsigned hs_ms)
{
	R.tls = s;
	R.to_app = to_app;
	R.from_app = from_app;
	R.ctl = -1;
	if (relay_run(&R) == RELAY_ERROR)
		finish(s, true, hs_ms, ENDED_BY_PEER, R.reason);
	finish(s, true, hs_ms, ENDED, NULL);
}

__attribute__((noreturn)) static void immediate(gnutls_session_t s)
{
	struct envblock b;
	unsigned ms = 0;
	const char *err = handshake(s, &ms);

	if (err)
		finish(s, false, 0, FAILED, err); /* the launcher sees EOF and never execs */
	engine_session_env(s, &b);
	envblock_finish(&b);
	send_start_block(&b);
	run_tls(s, E->ch.app_in[1], E->ch.app_out[0], ms);
}

__attribute__((noreturn)) static void delayed(gnutls_session_t s)
{
	struct envblock b;
	unsigned ms = 0;
	long discarded;
	const char *err;
	char extra;

	envblock_init(&b);
	envblock_finish(&b);
	send_start_block(&b);
	switch (relay_run(&R)) {
	case RELAY_DONE:
		finish(s, false, 0, ENDED, NULL);
	case RELAY_ERROR: /* a control protocol error is ours to report */
		finish(s, false, 0, R.command >= 0 ? FAILED : ENDED_BY_PEER, R.reason);
	case RELAY_COMMAND:
		break;
	}
	log_debug("the application asked for TLS with '%c'", R.command);
	discarded = relay_switch_to_tls(&R);
	if (discarded < 0)
		finish(s, false, 0, R.reason ? FAILED : ENDED_BY_PEER, R.reason ? R.reason : "network write error");
	if (discarded > 0)
		log_info("discarded %ld bytes of plaintext the application had not read when it asked for TLS", discarded);
	send_text(KMSG_HANDSHAKE_START, 0, ""); /* the parent's deadline starts */
	err = handshake(s, &ms);
	if (err) /* the application sees EOF on all three descriptors */
		finish(s, false, 0, ENDED_BY_PEER, err);
	if (read(R.ctl, &extra, 1) == 1) /* "yy": one handshake only, and a clear end */
		finish(s, true, ms, FAILED, "protocol error: a second command on the control descriptor");
	if (R.command == 'Y') {
		engine_session_env(s, &b);
		envblock_finish(&b);
		if (write_all(R.ctl, b.buf, b.len) < 0)
			log_error("unable to write the Y reply");
	}
	close_fd(&R.ctl);
	run_tls(s, E->ch.tls_in[1], E->ch.tls_out[0], ms);
}

/* -o, after a certificate or key problem: the application runs without
 * UCSPITLS, and the engine relays plaintext until both sides are done. */
__attribute__((noreturn)) static void plaintext_only(gnutls_session_t s)
{
	struct envblock b;

	close_fd(&R.ctl);
	close_fd(&R.app_stdin); /* no switch to drop plaintext at */
	envblock_init(&b);
	envblock_add(&b, START_NO_TLS, "1");
	envblock_finish(&b);
	send_start_block(&b);
	if (relay_run(&R) == RELAY_ERROR)
		finish(s, false, 0, ENDED_BY_PEER, R.reason);
	finish(s, false, 0, ENDED, NULL);
}

gnutls_session_t engine_prepare(struct conn *c)
{
	struct channels *ch = &c->ch;
	int one = 1;
	gnutls_session_t s;

	E = c;
	log_redirect(log_to_parent);
	log_limit_gnutls(ENGINE_GNUTLS_LINES);
	s = c->tls_problem ? NULL : make_session(); /* no certificate to serve */
	/* small TLS 1.3 records otherwise stall 40 ms on delayed ACKs */
	setsockopt(c->net_out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	relay_init(&R, c->net_in, c->net_out, ch->app_in[1], ch->app_out[0], c->cfg->delayed ? ch->ctl[0] : -1);
	relay_nonblock(ch->tls_in[1]);
	relay_nonblock(ch->tls_out[0]);
	relay_widen_pipe(ch->tls_in[1]);
	relay_widen_pipe(ch->tls_out[0]);
	relay_nonblock(ch->start[1]);
	R.app_stdin = c->cfg->delayed ? ch->app_in[0] : -1; /* to drop what it has not read at the switch */
	R.idle_timeout = c->cfg->idle_timeout;
	R.hold_ms = c->cfg->handshake_timeout * 1000;
	if (s)
		relay_set_transport(&R, s);
	return s;
}

void engine_serve(gnutls_session_t s)
{
	if (wait_for_keeper() == KREP_NO_TLS)
		plaintext_only(s);
	if (E->cfg->delayed)
		delayed(s);
	immediate(s);
}

void engine_main(struct conn *c)
{
	struct channels *ch = &c->ch;
	const int app_exit = relay_watch_exit(c->app); /* kept, so that the filter lets it be closed */
	const int keep[] = { c->net_in, c->net_out, ch->key[1], ch->start[1], ch->app_in[1], ch->app_out[0], app_exit,
	                     ch->ctl[0], ch->tls_in[1], ch->tls_out[0], ch->app_in[0] };
	const size_t nkeep = c->cfg->delayed ? 11 : 7;
	gnutls_session_t s;

	/* RLIMIT_FSIZE is 0 in the jail: a regular file as fd 1 (a test by
	 * hand) gives EFBIG, not a silent death */
	signal(SIGXFSZ, SIG_IGN);
	log_forget_syslog();
	fds_close_except(keep, nkeep);
	for (int fd = 0; fd <= 2; fd++) /* the super-server's copies of the socket */
		fds_null(fd);
	s = engine_prepare(c);
	R.app_exit = app_exit;
	enter_jail(keep, nkeep); /* always: only the fuzz harness calls engine_serve without it */
	engine_serve(s);
}
