/* The parent (key keeper): loads the key after the engine and the launcher
 * are forked, answers at most one signing request, wipes the key, reaps both
 * children, writes the connection's log line and returns the exit status.
 * It never reads or writes a network byte. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/jail.h"
#include "../sandbox/policy.h"
#include "conn.h"
#include "fds.h"
#include "keeper.h"
#include "log.h"
#include "signreq.h"

#define KEYFILE_MAX (1 << 20)
/* Log lines taken from the engine per connection: a compromised engine must
 * not flood the log. */
#define ENGINE_LOG_LINES 32

/* Read a whole small file into buf (to be wiped by the caller). */
static const char *read_file(const char *file, unsigned char *buf, size_t max, size_t *len)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not block us */
	ssize_t k;

	if (fd < 0)
		return fds_open_problem(errno);
	*len = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)max) {
		close(fd);
		return S_ISREG(st.st_mode) ? "too large for a key file" : "not a regular file";
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) /* served anyway: the operator may have reasons */
		log_error("key file %s: readable by others than its owner (chmod 600)", file);
	while ((k = read(fd, buf + *len, max - *len)) > 0)
		*len += (size_t)k;
	close(fd);
	return k < 0 ? "read error" : *len == 0 ? "empty file" : NULL;
}

static int same_key_id(gnutls_x509_crt_t cert, gnutls_x509_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t na = sizeof a, nb = sizeof b;

	if (gnutls_x509_crt_get_key_id(cert, GNUTLS_KEYID_USE_SHA256, a, &na) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) < 0)
		return 0;
	return na == nb && memcmp(a, b, na) == 0;
}

/* Decode the PEM ourselves: GnuTLS's own PEM path (privkey_import2 with
 * FMT_PEM) leaves a copy of an EC or Ed25519 secret in memory it never
 * frees, where no wipe can reach it; the DER path does not. */
static int pem_decode_key(const gnutls_datum_t *pem, gnutls_datum_t *der)
{
	static const char *const labels[] = { "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY" };

	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (gnutls_pem_base64_decode2(labels[i], pem, der) == 0)
			return 0;
	return -1;
}

static void wipe_datum(gnutls_datum_t *d)
{
	if (d->data) {
		explicit_bzero(d->data, d->size);
		gnutls_free(d->data);
	}
	d->data = NULL;
}

const char *keeper_load_key(const char *file, gnutls_x509_crt_t cert, gnutls_privkey_t *out)
{
	static unsigned char buf[KEYFILE_MAX];
	gnutls_x509_privkey_t xkey = NULL;
	gnutls_datum_t pem, der = { NULL, 0 };
	size_t len = 0;
	const char *err = read_file(file, buf, sizeof buf - 1, &len);

	if (err)
		return err;
	buf[len] = '\0';
	pem.data = buf;
	pem.size = (unsigned)len;
	if (strstr((char *)buf, "ENCRYPTED"))
		err = "the key is encrypted; ucspi-tlsd reads no passphrase";
	else if (pem_decode_key(&pem, &der) < 0)
		err = "no PEM private key in it";
	else if (gnutls_x509_privkey_init(&xkey) < 0)
		err = "out of memory";
	else if (gnutls_x509_privkey_import2(xkey, &der, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN) < 0)
		err = "unreadable private key";
	else if (!same_key_id(cert, xkey))
		err = "the key does not match the certificate";
	else if (gnutls_privkey_init(out) < 0 ||
	         gnutls_privkey_import_x509(*out, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
		err = "cannot use the key";
	else
		xkey = NULL; /* owned by *out now */
	if (xkey)
		gnutls_x509_privkey_deinit(xkey);
	wipe_datum(&der);
	explicit_bzero(buf, len);
	return err;
}

/* ---- answering the engine ---- */

/* The parent's own handshake deadline is this much later than the engine's,
 * so that an honest engine always reports its handshake timeout first. */
#define DEADLINE_GRACE_MS 2000

struct keeper {
	struct conn *c;
	gnutls_privkey_t keys[CERTSTORE_MAX]; /* by certificate index; NULL once wiped (or -o) */
	unsigned budget;      /* signatures left; refused requests count too */
	unsigned log_lines;   /* engine log lines taken so far */
	bool handshake_done;  /* the engine said so: TLS was up */
	long long deadline;   /* monotonic ms by which the handshake is done; 0: none */
	char summary[KMSG_MAXTEXT + 1];
	const char *failure;  /* why the parent ended the session */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_deadline(struct keeper *k)
{
	k->deadline = now_ms() + (long long)k->c->cfg->handshake_timeout * 1000 + DEADLINE_GRACE_MS;
}

static void wipe_keys(struct keeper *k)
{
	for (unsigned i = 0; i < CERTSTORE_MAX; i++) {
		if (k->keys[i])
			gnutls_privkey_deinit(k->keys[i]); /* GnuTLS zeroes the key's numbers */
		k->keys[i] = NULL;
	}
}

static void reply(struct keeper *k, uint32_t status, const gnutls_datum_t *sig)
{
	struct krep rep;

	rep.h.status = status;
	rep.h.len = sig ? sig->size : 0;
	if (sig)
		memcpy(rep.sig, sig->data, sig->size);
	send(k->c->ch.key[0], &rep, sizeof rep.h + rep.h.len, MSG_NOSIGNAL);
}

static int sign(gnutls_privkey_t key, const struct kreq *req, gnutls_datum_t *sig)
{
	gnutls_datum_t in = { (unsigned char *)req->data, req->h.len };

	if (req->h.op == KMSG_SIGN_DATA)
		return gnutls_privkey_sign_data2(key, req->h.algo, 0, &in, sig);
	if (req->h.algo == GNUTLS_SIGN_RSA_RAW) /* in: a DigestInfo, checked */
		return gnutls_privkey_sign_hash(key, 0, GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA, &in, sig);
	return gnutls_privkey_sign_hash2(key, req->h.algo, 0, &in, sig);
}

/* NULL to go on, or why the session ends (the engine has been told). */
static const char *answer_sign(struct keeper *k, const struct kreq *req)
{
	const char *why = kreq_check_sign(req, k->c->certs.keys, k->c->certs.n);
	gnutls_datum_t sig = { NULL, 0 };

	if (!why && k->c->tls_problem)
		why = "no key (-o)";
	else if (!why && (!k->keys[req->h.key] || k->budget == 0))
		why = "signature budget spent";
	if (k->budget)
		k->budget--;
	if (!why && (sign(k->keys[req->h.key], req, &sig) < 0 || sig.size > SIGNREP_MAXSIG))
		why = "signing failed";
	if (why) {
		gnutls_free(sig.data);
		reply(k, KREP_REFUSED, NULL);
		return why;
	}
	/* budget spent: the keys go before the engine can go on */
	if (k->budget == 0)
		wipe_keys(k);
	reply(k, KREP_SIGNED, &sig);
	log_debug("signed for the engine: %s", req->h.algo == GNUTLS_SIGN_RSA_RAW ? "RSA PKCS#1 v1.5"
	          : gnutls_sign_get_name(req->h.algo));
	gnutls_free(sig.data);
	return NULL;
}

static void text_of(const struct kreq *req, char *out)
{
	memcpy(out, req->data, req->h.len);
	out[req->h.len] = '\0';
	log_sanitize(out);
}

/* NULL to go on, or why the session ends. */
static const char *handle(struct keeper *k, const struct kreq *req)
{
	char text[KMSG_MAXTEXT + 1];

	switch (req->h.op) {
	case KMSG_SIGN_HASH:
	case KMSG_SIGN_DATA:
		return answer_sign(k, req);
	case KMSG_HANDSHAKE_START: /* arms the deadline once, in delayed mode */
		if (k->deadline || k->handshake_done || !k->c->cfg->delayed || k->c->tls_problem)
			return "unexpected handshake-start message";
		arm_deadline(k);
		return NULL;
	case KMSG_HANDSHAKE_DONE:
		wipe_keys(k);
		k->budget = 0;
		k->handshake_done = true;
		k->deadline = 0;
		return NULL;
	case KMSG_LOG: /* an honest engine logs a handful of lines */
		if (++k->log_lines > ENGINE_LOG_LINES)
			return "too many log lines from the engine";
		text_of(req, text);
		log_line((enum log_level)req->h.key, text);
		return NULL;
	case KMSG_SUMMARY:
		text_of(req, text);
		if (kmsg_summary_problem(text))
			return kmsg_summary_problem(text);
		memcpy(k->summary, text, sizeof k->summary);
		return NULL;
	default:
		return "unknown operation";
	}
}

/* The next message, within the deadline.  Returns its length, 0 when the
 * engine closed the channel, -1 on an error or a timeout (k->failure). */
static ssize_t next_message(struct keeper *k, unsigned char *buf, size_t size)
{
	struct pollfd p = { .fd = k->c->ch.key[0], .events = POLLIN };

	for (;;) {
		int ms = -1;
		if (k->deadline) {
			long long left = k->deadline - now_ms();
			if (left <= 0) {
				k->failure = "the engine did not finish the handshake within the handshake timeout";
				return -1;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		int ready = poll(&p, 1, ms);
		if (ready < 0 && errno != EINTR)
			return -1;
		if (ready <= 0)
			continue; /* the deadline is looked at above */
		ssize_t n = recv(p.fd, buf, size, MSG_DONTWAIT);
		/* ECONNRESET: the engine exited without reading our READY; what
		 * it sent before (its error) is still queued behind that */
		if (n >= 0 || (errno != EINTR && errno != EAGAIN && errno != ECONNRESET))
			return n;
	}
}

/* Serve the engine until it closes the channel, breaks a rule or stays
 * silent past the deadline. */
static void serve(struct keeper *k)
{
	static unsigned char buf[sizeof(struct kreq) + 1]; /* one more: a longer message shows */
	struct kreq req;
	ssize_t n;

	while ((n = next_message(k, buf, sizeof buf)) > 0) {
		const char *why = kreq_decode(buf, (size_t)n, &req);
		if (!why)
			why = handle(k, &req);
		if (why) {
			k->failure = why;
			break;
		}
	}
	if (k->failure)
		log_error("ended the session with the engine: %s", k->failure);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

void keeper_log_done(const struct conn *c, const char *summary, int code)
{
	bool v6 = c->have_addrs && strchr(c->remote_ip, ':');
	/* a session that failed is an error: -q still logs it */
	void (*log_fn)(const char *, ...) __attribute__((format(printf, 1, 2))) =
		strstr(summary, "reason=") ? log_error : log_info;

	log_fn("done remote=%s%s%s%s%s mode=%s %s status=%d", v6 ? "[" : "", c->have_addrs ? c->remote_ip : "-",
	       v6 ? "]" : "", c->have_addrs ? ":" : "", c->have_addrs ? c->remote_port : "", c->cfg->delayed ? "delayed" : "immediate",
	       summary, code);
}

void keeper_no_tls(struct conn *c, const char *what, const char *file, const char *problem)
{
	c->tls_problem = problem;
	log_error("%s %s: %s; -o: the application runs without UCSPITLS (no STARTTLS)", what, file, problem);
}

/* Once the keys are in memory: no more root, and only the system calls
 * that serving the engine, logging and reaping need. */
static const char *confine(pid_t engine)
{
	const char *err = jail_drop_parent(jail_connection_uid(getpid()));

	return err ? err : policy_parent_load(engine);
}

/* Every certificate's key, each checked against its certificate: the
 * engine may ask for any of them until the handshake is done. */
static const char *load_keys(struct conn *c, gnutls_privkey_t *keys)
{
	const struct certstore *cs = &c->certs;

	for (unsigned i = 0; i < cs->n; i++) {
		static char why[KMSG_MAXTEXT - 64]; /* for the done line too */
		const char *err = keeper_load_key(cs->e[i].keyfile, cs->e[i].leaf, &keys[i]);
		if (err && c->cfg->fallback) {
			keeper_no_tls(c, "key file", cs->e[i].keyfile, err);
			return NULL;
		}
		if (err) {
			snprintf(why, sizeof why, "key file %s: %s", cs->e[i].keyfile, err);
			log_error("%s", why);
			return why;
		}
	}
	return NULL;
}

/* The end of a connection: kill the engine if the parent ended the session,
 * reap both children, log the "done" line; returns the exit status. */
static int end_session(struct keeper *k, pid_t engine, pid_t app)
{
	int engine_status = 0, app_status = 0, code;

	wipe_keys(k);
	close(k->c->ch.key[0]);
	if (k->failure)
		kill(engine, SIGKILL);
	reap(engine, &engine_status);
	reap(app, &app_status);
	code = exit_code(app_status);
	if (engine_status != 0 || k->failure)
		code = EXIT_TEMP;
	if (!k->summary[0]) {
		if (WIFSIGNALED(engine_status) && !k->failure)
			snprintf(k->summary, sizeof k->summary, "proto=%s reason=\"engine killed by signal %d%s\"",
			         k->handshake_done ? "unknown" : "none", WTERMSIG(engine_status),
			         WTERMSIG(engine_status) == SIGSYS ? " (seccomp: forbidden system call)" : "");
		else
			snprintf(k->summary, sizeof k->summary, "proto=%s reason=\"%s\"", k->handshake_done ? "unknown" : "none",
			         k->failure ? k->failure : "engine failed");
	}
	keeper_log_done(k->c, k->summary, code);
	return code;
}

int keeper_session(struct conn *c, gnutls_privkey_t *keys, const char *failure, pid_t engine, pid_t app)
{
	struct keeper k = { .c = c, .budget = 1, .failure = failure };

	memcpy(k.keys, keys, sizeof k.keys);
	if (c->tls_problem) { /* -o: the keys loaded before the problem go too */
		wipe_keys(&k);
		k.budget = 0;
	}
	if (!failure) {
		reply(&k, c->tls_problem ? KREP_NO_TLS : KREP_READY, NULL);
		if (!c->cfg->delayed) /* delayed mode: from the engine's handshake-start */
			arm_deadline(&k);
		serve(&k);
	}
	return end_session(&k, engine, app);
}

int keeper_run(struct conn *c, pid_t engine, pid_t app)
{
	gnutls_privkey_t keys[CERTSTORE_MAX] = { NULL };
	const char *err = c->tls_problem ? NULL : load_keys(c, keys);
	const char *confine_err = confine(engine);

	if (!err && confine_err) {
		log_error("parent sandbox: %s", confine_err);
		err = confine_err;
	}
	return keeper_session(c, keys, err, engine, app);
}
