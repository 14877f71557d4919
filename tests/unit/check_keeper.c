/* The key keeper's real code (keeper_load_key, keeper_session) against a
 * hostile fake engine, for every refusal path of SPEC section 5.
 *
 * The fake engine is the other end of a real SOCK_SEQPACKET socketpair: the
 * test queues its messages there before the keeper runs, then reads what
 * the keeper answered and checks that the channel was closed (end of file).
 * The "engine" and "application" the keeper reaps are dummy children: a
 * refused session must kill the engine, whose dummy otherwise waits forever
 * (the test then times out).  The keys and certificates are made by GnuTLS
 * when the test starts; none is committed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "conn.h"
#include "keeper.h"
#include "signreq.h"

/* ---- keys, made once before the tests fork ---- */

enum keytype { RSA, P256, ED25519, NKEYS };

struct keyfix {
	struct keyinfo info;
	char path[64];           /* the PEM key file keeper_load_key reads */
	gnutls_x509_crt_t crt;   /* the certificate it must match */
	gnutls_pubkey_t pub;     /* to verify what the keeper signed */
};

static struct keyfix keys[NKEYS];

static void write_file(const char *path, const gnutls_datum_t *d)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, d->data, d->size) != (ssize_t)d->size || close(fd) < 0) {
		fprintf(stderr, "cannot write %s\n", path);
		_exit(99);
	}
}

/* In a child, so that this process never holds a private key except
 * through keeper_load_key (the memory scan below relies on it): a key, and
 * a self-signed certificate for it, written to path and path.crt. */
static void generate(const char *path, gnutls_pk_algorithm_t pk, unsigned bits)
{
	gnutls_x509_privkey_t x;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem, der;
	time_t now = time(NULL);
	char crtpath[80];

	if (gnutls_x509_privkey_init(&x) < 0 || gnutls_x509_privkey_generate(x, pk, bits, 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, "\x01", 1) < 0 || gnutls_x509_crt_set_activation_time(crt, now) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 3600) < 0 || gnutls_x509_crt_set_key(crt, x) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, x, pk == GNUTLS_PK_EDDSA_ED25519 ? GNUTLS_DIG_UNKNOWN : GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0) {
		fprintf(stderr, "cannot make the test key %s\n", path);
		_exit(99);
	}
	snprintf(crtpath, sizeof crtpath, "%s.crt", path);
	write_file(path, &pem);
	write_file(crtpath, &der);
	_exit(0);
}

static void make_key(enum keytype t, gnutls_pk_algorithm_t pk, unsigned bits, gnutls_ecc_curve_t curve)
{
	struct keyfix *k = &keys[t];
	gnutls_datum_t der = { NULL, 0 };
	char crtpath[80];
	int status;
	pid_t pid;

	k->info = (struct keyinfo){ pk, curve, bits };
	snprintf(k->path, sizeof k->path, "/tmp/check_keeper.%ld.%d.key", (long)getpid(), (int)t);
	snprintf(crtpath, sizeof crtpath, "%s.crt", k->path);
	if ((pid = fork()) == 0)
		generate(k->path, pk, pk == GNUTLS_PK_RSA ? bits : GNUTLS_CURVE_TO_BITS(curve));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0 || gnutls_load_file(crtpath, &der) < 0 ||
	    gnutls_x509_crt_init(&k->crt) < 0 || gnutls_x509_crt_import(k->crt, &der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_pubkey_init(&k->pub) < 0 || gnutls_pubkey_import_x509(k->pub, k->crt, 0) < 0) {
		fprintf(stderr, "cannot load the test certificate %s\n", crtpath);
		exit(99);
	}
	gnutls_free(der.data);
	unlink(crtpath);
}

static void make_keys(void)
{
	make_key(RSA, GNUTLS_PK_RSA, 2048, GNUTLS_ECC_CURVE_INVALID);
	make_key(P256, GNUTLS_PK_ECDSA, 256, GNUTLS_ECC_CURVE_SECP256R1);
	make_key(ED25519, GNUTLS_PK_EDDSA_ED25519, 256, GNUTLS_ECC_CURVE_ED25519);
}

static void remove_keys(void)
{
	for (int t = 0; t < NKEYS; t++)
		unlink(keys[t].path);
}

/* ---- one connection: the keeper in this process, the fake engine's end ---- */

static struct config cfg;
static struct conn C;
static int engine_end; /* the fake engine's end of the key channel */
static char logpath[64];

/* A dummy child: exits with code at once, or (code < 0) waits until killed. */
static pid_t dummy(int code)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (code >= 0)
			_exit(code);
		for (;;)
			pause();
	}
	return pid;
}

static void setup_conn(enum keytype t, bool delayed)
{
	int fd;

	memset(&cfg, 0, sizeof cfg);
	memset(&C, 0, sizeof C);
	cfg.delayed = delayed;
	cfg.handshake_timeout = 1;
	cfg.keyfile = keys[t].path;
	C.cfg = &cfg;
	C.certs.n = 1;
	C.certs.keys[0] = keys[t].info;
	C.certs.e[0].leaf = keys[t].crt;
	C.certs.e[0].keyfile = keys[t].path;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, C.ch.key), 0);
	engine_end = C.ch.key[1];
	/* the keeper logs on fd 2: keep it in a file */
	snprintf(logpath, sizeof logpath, "/tmp/check_keeper.%ld.log", (long)getpid());
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	close(fd);
}

static const char *log_text(void)
{
	static char text[16384];
	int fd = open(logpath, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);

	ck_assert_int_ge(n, 0);
	text[n] = '\0';
	close(fd);
	unlink(logpath);
	return text;
}

/* The keeper with its real key file; the engine is expected to be killed
 * (engine_code < 0) or to have exited with engine_code. */
static gnutls_privkey_t loaded[CERTSTORE_MAX];

/* The fixture's key, as keeper_run loads it. */
static gnutls_privkey_t *load_key(void)
{
	const char *err = keeper_load_key(cfg.keyfile, C.certs.e[0].leaf, &loaded[0]);

	ck_assert_msg(err == NULL, "key fixture: %s", err ? err : "");
	return loaded;
}

static int run_keeper(int engine_code, int app_code)
{
	return keeper_session(&C, load_key(), NULL, dummy(engine_code), dummy(app_code));
}

/* ---- what the fake engine sends ---- */

static void send_msg(const void *buf, size_t n)
{
	ck_assert_int_eq(send(engine_end, buf, n, MSG_DONTWAIT), (ssize_t)n);
}

static void send_req(uint32_t op, uint32_t key, uint32_t algo, uint32_t flags, const void *data, size_t len)
{
	struct kreq q;

	q.h = (struct kreq_header){ op, key, algo, flags, (uint32_t)len };
	memcpy(q.data, data, len);
	send_msg(&q, sizeof q.h + len);
}

static void send_sign(uint32_t op, uint32_t algo, const void *data, size_t len)
{
	send_req(op, 0, algo, 0, data, len);
}

static void send_text(uint32_t op, uint32_t level, const char *text)
{
	send_req(op, level, 0, 0, text, strlen(text));
}

/* ---- to-be-signed contents ---- */

static unsigned char digest[64];

/* A hash of length n: a fixed pattern (the keeper cannot tell). */
static const unsigned char *hash_of(size_t n)
{
	for (size_t i = 0; i < n; i++)
		digest[i] = (unsigned char)(0xa5 ^ i);
	return digest;
}

/* DER DigestInfo: prefix + hash. */
static size_t digestinfo(unsigned char *out, const unsigned char *prefix, size_t plen, size_t hlen)
{
	memcpy(out, prefix, plen);
	memcpy(out + plen, hash_of(hlen), hlen);
	return plen + hlen;
}

static const unsigned char di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                           0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const unsigned char di_sha1[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                         0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
static const unsigned char di_md5[] = { 0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                        0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10 };

/* RFC 8446 4.4.3 with the given context string and a 32-byte hash. */
static size_t tls13_content(unsigned char *out, const char *context)
{
	size_t n = strlen(context) + 1;

	memset(out, 0x20, 64);
	memcpy(out + 64, context, n);
	memcpy(out + 64 + n, hash_of(32), 32);
	return 64 + n + 32;
}

/* RFC 8422 5.4: randoms, named_curve X25519, a 32-byte point. */
static size_t tls12_content(unsigned char *out)
{
	memcpy(out, hash_of(64), 64);
	memcpy(out + 64, "\x03\x00\x1d\x20", 4);
	memcpy(out + 68, hash_of(32), 32);
	return 100;
}

/* ---- what the keeper answered ---- */

/* The next reply on the fake engine's end: its status, the signature in
 * sig (if not NULL).  0 at end of file; never blocks. */
static uint32_t next_reply(gnutls_datum_t *sig)
{
	static struct krep rep;
	ssize_t n = recv(engine_end, &rep, sizeof rep, MSG_DONTWAIT);

	/* ECONNRESET: the keeper closed with messages of ours unread */
	if (n < 0 && errno == ECONNRESET) /* reported once; what is queued follows */
		n = recv(engine_end, &rep, sizeof rep, MSG_DONTWAIT);
	ck_assert_msg(n >= 0, "the keeper left the channel open (%s)", strerror(errno));
	if (n == 0)
		return 0;
	ck_assert_uint_eq((size_t)n, sizeof rep.h + rep.h.len);
	if (sig) {
		sig->data = rep.sig;
		sig->size = rep.h.len;
	}
	return rep.h.status;
}

/* The session was refused: READY, then nsigned signatures, then REFUSED
 * if a sign request was refused, then end of file; status 111; the reason
 * logged, and in the done line.  Returns the log. */
static const char *assert_refused(int rc, unsigned nsigned, bool refused_reply, const char *reason)
{
	const char *log = log_text();
	char want[256];

	ck_assert_int_eq(rc, EXIT_TEMP);
	ck_assert_uint_eq(next_reply(NULL), KREP_READY);
	for (unsigned i = 0; i < nsigned; i++)
		ck_assert_uint_eq(next_reply(NULL), KREP_SIGNED);
	if (refused_reply)
		ck_assert_uint_eq(next_reply(NULL), KREP_REFUSED);
	ck_assert_uint_eq(next_reply(NULL), 0);
	snprintf(want, sizeof want, "ended the session with the engine: %s\n", reason);
	ck_assert_msg(strstr(log, want), "log has \"%s\"; log:\n%s", reason, log);
	snprintf(want, sizeof want, "reason=\"%s\" status=111\n", reason);
	ck_assert_msg(strstr(log, want), "done line has %s; log:\n%s", want, log);
	return log;
}

/* ---- refused before any signature: one table, one loop test ---- */

struct refusal {
	const char *name;
	enum keytype key;
	void (*send)(void);
	bool sign_refused; /* a REFUSED reply before the close */
	const char *reason;
};

static void unknown_op_decrypt(void) /* a decrypt operation does not exist */
{
	send_req(7, 0, GNUTLS_SIGN_RSA_RAW, 0, hash_of(64), 64);
}
static void declared_length_short(void)
{
	struct kreq q = { .h = { KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, 32 } };
	send_msg(&q, sizeof q.h + 31);
}
static void declared_length_long(void)
{
	struct kreq q = { .h = { KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, 32 } };
	send_msg(&q, sizeof q.h + 33);
}
static void oversize_message(void) /* more than the keeper's buffer */
{
	static unsigned char big[sizeof(struct kreq) + 64];
	struct kreq_header h = { KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, SIGNREQ_MAXDATA };
	memcpy(big, &h, sizeof h);
	send_msg(big, sizeof big);
}
static void oversize_declared(void)
{
	static unsigned char big[sizeof(struct kreq) + 64];
	struct kreq_header h = { KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, SIGNREQ_MAXDATA + 64 };
	memcpy(big, &h, sizeof h);
	send_msg(big, sizeof big);
}
static void short_message(void)
{
	send_msg("\x01\x00\x00", 3);
}
static void unknown_key_index(void)
{
	send_req(KMSG_SIGN_HASH, 1, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, hash_of(32), 32);
}
static void nonzero_flags(void)
{
	send_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 1, hash_of(32), 32);
}
static void rsa_algo_of_ecdsa_key(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, hash_of(32), 32);
}
static void p384_algo_of_p256_key(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP384R1_SHA384, hash_of(48), 48);
}
static void ecdsa_algo_of_rsa_key(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SHA256, hash_of(32), 32);
}
static void rsa_sha1_of_rsa_key(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_SHA1, hash_of(20), 20);
}
static void wrong_digest_length(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(48), 48);
}
static void wrong_digest_length_pss(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384, hash_of(32), 32);
}
static void digestinfo_md5(void)
{
	unsigned char d[64];
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_RAW, d, digestinfo(d, di_md5, sizeof di_md5, 16));
}
static void digestinfo_sha1(void)
{
	unsigned char d[64];
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_RAW, d, digestinfo(d, di_sha1, sizeof di_sha1, 20));
}
static void raw_rsa_block(void) /* a PKCS#1 v1.5 ciphertext, as to a decryption oracle */
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_RAW, hash_of(64), 64);
}
static void raw_rsa_of_ecdsa_key(void)
{
	unsigned char d[64];
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_RAW, d, digestinfo(d, di_sha256, sizeof di_sha256, 32));
}
static void ed25519_bad_shape(void)
{
	send_sign(KMSG_SIGN_DATA, GNUTLS_SIGN_EDDSA_ED25519, hash_of(64), 64);
}
static void ed25519_client_context(void) /* a client's CertificateVerify: not ours */
{
	unsigned char d[200];
	send_sign(KMSG_SIGN_DATA, GNUTLS_SIGN_EDDSA_ED25519, d, tls13_content(d, "TLS 1.3, client CertificateVerify"));
}
static void ed25519_sign_hash(void)
{
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_EDDSA_ED25519, hash_of(32), 32);
}
static void sign_data_of_ecdsa_key(void)
{
	unsigned char d[200];
	send_sign(KMSG_SIGN_DATA, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, d, tls13_content(d, "TLS 1.3, server CertificateVerify"));
}
static void sign_after_handshake_done(void)
{
	send_req(KMSG_HANDSHAKE_DONE, 0, 0, 0, "", 0);
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32);
}
/* The keeper takes 32 log lines per connection. */
#define LOG_CAP 32
static void log_lines(int n)
{
	for (int i = 0; i < n; i++)
		send_text(KMSG_LOG, 0, "flood");
}
static void log_flood(void)
{
	log_lines(LOG_CAP + 1);
}
static void log_level_too_high(void)
{
	send_text(KMSG_LOG, 3, "a level the keeper does not have");
}
static void summary_posing_status(void)
{
	send_text(KMSG_SUMMARY, 0, "proto=TLSv1.3 status=0");
}
static void summary_posing_remote(void)
{
	send_text(KMSG_SUMMARY, 0, "proto=TLSv1.3 remote=192.0.2.1:25");
}
static void handshake_start_in_immediate_mode(void)
{
	send_req(KMSG_HANDSHAKE_START, 0, 0, 0, "", 0);
}

static const struct refusal refusals[] = {
	{ "unknown op (decrypt)", RSA, unknown_op_decrypt, false, "unknown operation" },
	{ "declared length short", P256, declared_length_short, false, "declared length differs from received length" },
	{ "declared length long", P256, declared_length_long, false, "declared length differs from received length" },
	{ "oversize message", P256, oversize_message, false, "declared length differs from received length" },
	{ "oversize declared", P256, oversize_declared, false, "declared length too large" },
	{ "short message", P256, short_message, false, "short message" },
	{ "unknown key index", P256, unknown_key_index, true, "unknown key index" },
	{ "non-zero flags", P256, nonzero_flags, false, "non-zero flags" },
	{ "RSA algo, ECDSA key", P256, rsa_algo_of_ecdsa_key, true, "signature algorithm not allowed for this key" },
	{ "P-384 algo, P-256 key", P256, p384_algo_of_p256_key, true, "signature algorithm not allowed for this key" },
	{ "ECDSA algo, RSA key", RSA, ecdsa_algo_of_rsa_key, true, "signature algorithm not allowed for this key" },
	{ "RSA-SHA1, RSA key", RSA, rsa_sha1_of_rsa_key, true, "signature algorithm not allowed for this key" },
	{ "wrong digest length", P256, wrong_digest_length, true, "digest length does not match the algorithm" },
	{ "wrong digest length PSS", RSA, wrong_digest_length_pss, true, "digest length does not match the algorithm" },
	{ "MD5 DigestInfo", RSA, digestinfo_md5, true, "not a SHA-256/384/512 DigestInfo" },
	{ "SHA-1 DigestInfo", RSA, digestinfo_sha1, true, "not a SHA-256/384/512 DigestInfo" },
	{ "raw RSA block", RSA, raw_rsa_block, true, "not a SHA-256/384/512 DigestInfo" },
	{ "raw RSA, ECDSA key", P256, raw_rsa_of_ecdsa_key, true, "raw RSA signature asked of a non-RSA key" },
	{ "Ed25519 bad shape", ED25519, ed25519_bad_shape, true, "content is not a TLS 1.2 or 1.3 signed structure" },
	{ "Ed25519 client context", ED25519, ed25519_client_context, true,
	  "content is not a TLS 1.2 or 1.3 signed structure" },
	{ "Ed25519 sign_hash", ED25519, ed25519_sign_hash, true, "Ed25519 signs whole content, never a digest" },
	{ "sign_data, ECDSA key", P256, sign_data_of_ecdsa_key, true, "data signature asked of a key that signs digests" },
	{ "sign after handshake done", P256, sign_after_handshake_done, true, "signature budget spent" },
	{ "log flood", P256, log_flood, false, "too many log lines from the engine" },
	{ "log level 3", P256, log_level_too_high, false, "malformed text message" },
	{ "summary posing status", P256, summary_posing_status, false, "summary poses as the parent's fields" },
	{ "summary posing remote", P256, summary_posing_remote, false, "summary poses as the parent's fields" },
	{ "handshake start, immediate", P256, handshake_start_in_immediate_mode, false,
	  "unexpected handshake-start message" },
};

START_TEST(refused_and_session_ends)
{
	const struct refusal *r = &refusals[_i];

	setup_conn(r->key, false);
	r->send();
	int rc = run_keeper(-1, 0);
	ck_assert_msg(rc == EXIT_TEMP, "%s: status %d", r->name, rc);
	assert_refused(rc, 0, r->sign_refused, r->reason);
}
END_TEST

START_TEST(log_flood_stops_at_the_cap)
{
	setup_conn(P256, false);
	log_flood();
	const char *log = assert_refused(run_keeper(-1, 0), 0, false, "too many log lines from the engine");
	int lines = 0;
	for (const char *p = log; (p = strstr(p, ": flood\n")); p++)
		lines++;
	ck_assert_int_eq(lines, LOG_CAP);
}
END_TEST

START_TEST(log_lines_up_to_the_cap_taken)
{
	setup_conn(P256, false);
	log_lines(LOG_CAP);
	close(engine_end);
	engine_end = -1;
	int rc = run_keeper(0, 0);
	const char *log = log_text();
	ck_assert_msg(rc == 0 && !strstr(log, "ended the session"), "status %d; log:\n%s", rc, log);
}
END_TEST

/* ---- the one signature: granted, then the budget ---- */

static void assert_signature_verifies(enum keytype t, gnutls_sign_algorithm_t algo, const gnutls_datum_t *sig,
                                      const unsigned char *in, size_t n, bool data)
{
	gnutls_datum_t d = { (unsigned char *)in, (unsigned)n };
	int ret = data ? gnutls_pubkey_verify_data2(keys[t].pub, algo, 0, &d, sig)
	               : gnutls_pubkey_verify_hash2(keys[t].pub, algo, 0, &d, sig);
	ck_assert_msg(ret >= 0, "the signature verifies: %s", gnutls_strerror(ret));
}

/* One good request, then a second one: the first is signed (and verifies),
 * the second refused, and the session ends. */
static void one_then_budget(enum keytype t, uint32_t op, gnutls_sign_algorithm_t algo, const unsigned char *in,
                            size_t n, gnutls_sign_algorithm_t verify_algo, const unsigned char *vin, size_t vn)
{
	gnutls_datum_t sig;

	setup_conn(t, false);
	send_sign(op, algo, in, n);
	send_sign(op, algo, in, n);
	int rc = run_keeper(-1, 0);
	const char *log = log_text();
	ck_assert_int_eq(rc, EXIT_TEMP);
	ck_assert_uint_eq(next_reply(NULL), KREP_READY);
	ck_assert_uint_eq(next_reply(&sig), KREP_SIGNED);
	assert_signature_verifies(t, verify_algo, &sig, vin, vn, op == KMSG_SIGN_DATA);
	ck_assert_uint_eq(next_reply(NULL), KREP_REFUSED);
	ck_assert_uint_eq(next_reply(NULL), 0);
	ck_assert_msg(strstr(log, "ended the session with the engine: signature budget spent\n"), "log:\n%s", log);
	ck_assert_msg(strstr(log, "reason=\"signature budget spent\" status=111\n"), "log:\n%s", log);
}

START_TEST(ecdsa_tls13_signed_once)
{
	one_then_budget(P256, KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32,
	                GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32);
}
END_TEST

START_TEST(ecdsa_tls12_sha384_signed_once)
{
	one_then_budget(P256, KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SHA384, hash_of(48), 48, GNUTLS_SIGN_ECDSA_SHA384,
	                hash_of(48), 48);
}
END_TEST

START_TEST(rsa_pss_rsae_signed_once)
{
	one_then_budget(RSA, KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, hash_of(32), 32,
	                GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, hash_of(32), 32);
}
END_TEST

START_TEST(rsa_pkcs1_digestinfo_signed_once)
{
	unsigned char d[64];
	size_t n = digestinfo(d, di_sha256, sizeof di_sha256, 32);
	/* a PKCS#1 v1.5 signature over DigestInfo(SHA-256, h) is RSA-SHA256 over h */
	one_then_budget(RSA, KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_RAW, d, n, GNUTLS_SIGN_RSA_SHA256, hash_of(32), 32);
}
END_TEST

START_TEST(ed25519_tls13_signed_once)
{
	unsigned char d[200];
	size_t n = tls13_content(d, "TLS 1.3, server CertificateVerify");
	one_then_budget(ED25519, KMSG_SIGN_DATA, GNUTLS_SIGN_EDDSA_ED25519, d, n, GNUTLS_SIGN_EDDSA_ED25519, d, n);
}
END_TEST

START_TEST(ed25519_tls12_signed_once)
{
	unsigned char d[200];
	size_t n = tls12_content(d);
	one_then_budget(ED25519, KMSG_SIGN_DATA, GNUTLS_SIGN_EDDSA_ED25519, d, n, GNUTLS_SIGN_EDDSA_ED25519, d, n);
}
END_TEST

/* A whole honest session: one signature, handshake done, log, summary,
 * close.  The status is the application's and the done line the engine's. */
START_TEST(honest_session_ends_with_the_apps_status)
{
	setup_conn(P256, false);
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32);
	send_req(KMSG_HANDSHAKE_DONE, 0, 0, 0, "", 0);
	send_text(KMSG_LOG, 1, "an honest line");
	send_text(KMSG_SUMMARY, 0, "proto=TLSv1.3 cipher=X in=1 out=2");
	close(engine_end);
	engine_end = -1;
	int rc = run_keeper(0, 7);
	const char *log = log_text();
	ck_assert_int_eq(rc, 7);
	ck_assert_msg(strstr(log, ": an honest line\n"), "log:\n%s", log);
	ck_assert_msg(strstr(log, "mode=immediate proto=TLSv1.3 cipher=X in=1 out=2 status=7\n"), "log:\n%s", log);
	ck_assert_msg(!strstr(log, "ended the session"), "log:\n%s", log);
}
END_TEST

/* ---- silence: the parent's handshake deadline ---- */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

#define SILENT_REASON "the engine did not finish the handshake within the handshake timeout"

START_TEST(silent_engine_killed_at_the_deadline)
{
	struct timespec t0;

	setup_conn(P256, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = run_keeper(-1, 0);
	double took = seconds_since(&t0);
	assert_refused(rc, 0, false, SILENT_REASON);
	ck_assert_msg(took >= 1.0 && took < 5.0, "ended after %.2fs (-T 1 plus the grace)", took);
}
END_TEST

START_TEST(silent_after_a_signature_killed_at_the_deadline)
{
	setup_conn(P256, false);
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32);
	assert_refused(run_keeper(-1, 0), 1, false, SILENT_REASON);
}
END_TEST

START_TEST(delayed_silent_after_handshake_start_killed)
{
	setup_conn(P256, true);
	send_req(KMSG_HANDSHAKE_START, 0, 0, 0, "", 0);
	assert_refused(run_keeper(-1, 0), 0, false, SILENT_REASON);
}
END_TEST

START_TEST(delayed_second_handshake_start_refused)
{
	setup_conn(P256, true);
	send_req(KMSG_HANDSHAKE_START, 0, 0, 0, "", 0);
	send_req(KMSG_HANDSHAKE_START, 0, 0, 0, "", 0);
	assert_refused(run_keeper(-1, 0), 0, false, "unexpected handshake-start message");
}
END_TEST

/* The plaintext phase of delayed mode has no deadline: an engine quiet for
 * longer than -T plus the grace, that then ends normally, is not killed. */
START_TEST(delayed_plaintext_phase_has_no_deadline)
{
	pid_t engine;

	setup_conn(P256, true);
	engine = fork();
	ck_assert_int_ge(engine, 0);
	if (engine == 0) { /* READY, then quiet for 3.5 s (a deadline would be 3), then a summary */
		struct timespec quiet = { 3, 500000000 };
		struct krep rep;
		close(C.ch.key[0]);
		if (recv(engine_end, &rep, sizeof rep, 0) != sizeof rep.h || rep.h.status != KREP_READY)
			_exit(99);
		nanosleep(&quiet, NULL);
		send_text(KMSG_SUMMARY, 0, "proto=none in=0 out=0");
		_exit(0);
	}
	close(engine_end);
	engine_end = -1;
	int rc = keeper_session(&C, load_key(), NULL, engine, dummy(0));
	const char *log = log_text();
	ck_assert_msg(rc == 0, "status %d; log:\n%s", rc, log);
	ck_assert_msg(strstr(log, "mode=delayed proto=none in=0 out=0 status=0\n"), "log:\n%s", log);
}
END_TEST

/* ---- the key leaves the keeper's memory with the one signature ---- */

#ifndef __SANITIZE_ADDRESS__ /* its reserved address space is too large to scan */

/* The key's secret numbers as they may lie in memory: the first 32 bytes,
 * big-endian (as GnuTLS keeps an Ed25519 key) and little-endian (as
 * nettle's limbs keep the others). */
struct secrets {
	struct { unsigned char b[32]; size_t len; } v[8];
	size_t n;
};

static void add_secret(struct secrets *s, const gnutls_datum_t *num)
{
	size_t skip = 0, len;

	while (skip < num->size && num->data[skip] == 0)
		skip++;
	len = num->size - skip < 32 ? num->size - skip : 32;
	memcpy(s->v[s->n].b, num->data + skip, len);
	s->v[s->n++].len = len;
	for (size_t i = 0; i < len; i++)
		s->v[s->n].b[i] = num->data[num->size - 1 - i];
	s->v[s->n++].len = len;
}

static void key_secrets(const char *path, struct secrets *s)
{
	gnutls_datum_t pem, d, p, q, k;
	gnutls_x509_privkey_t x;
	gnutls_ecc_curve_t curve;

	s->n = 0;
	if (gnutls_load_file(path, &pem) < 0 || gnutls_x509_privkey_init(&x) < 0 ||
	    gnutls_x509_privkey_import(x, &pem, GNUTLS_X509_FMT_PEM) < 0)
		_exit(98);
	if (gnutls_x509_privkey_export_rsa_raw(x, NULL, NULL, &d, &p, &q, NULL) == 0) {
		add_secret(s, &d);
		add_secret(s, &p);
		add_secret(s, &q);
	} else if (gnutls_x509_privkey_export_ecc_raw(x, &curve, NULL, NULL, &k) == 0) {
		add_secret(s, &k);
	} else {
		_exit(98);
	}
}

/* Does process pid's readable memory hold one of the secrets? */
static bool memory_holds(pid_t pid, const struct secrets *s)
{
	static unsigned char chunk[(1 << 20) + 32];
	char path[64], line[512];
	bool found = false;
	FILE *maps;
	int mem;

	snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof path, "/proc/%ld/mem", (long)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || mem < 0)
		_exit(97);
	while (!found && fgets(line, sizeof line, maps)) {
		unsigned long start, end;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[0] != 'r' ||
		    strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		for (unsigned long pos = start; !found && pos < end; pos += 1 << 20) {
			size_t want = end - pos < sizeof chunk ? end - pos : sizeof chunk;
			ssize_t n = pread(mem, chunk, want, (off_t)pos);
			for (size_t i = 0; n > 0 && i < s->n; i++)
				found |= memmem(chunk, (size_t)n, s->v[i].b, s->v[i].len) != NULL;
		}
	}
	fclose(maps);
	close(mem);
	return found;
}

/* The fake engine: scans the keeper's memory after READY (the key must be
 * found: the scan works) and after the one signature (it must not be),
 * and reports both in its summary. */
static void scanning_engine(enum keytype t, uint32_t op, uint32_t algo, const unsigned char *in, size_t n)
{
	struct secrets s;
	struct krep rep;
	char line[64];
	bool before, after;

	close(C.ch.key[0]);
	key_secrets(keys[t].path, &s);
	if (recv(engine_end, &rep, sizeof rep, 0) != sizeof rep.h || rep.h.status != KREP_READY)
		_exit(96);
	before = memory_holds(getppid(), &s);
	send_sign(op, algo, in, n);
	if (recv(engine_end, &rep, sizeof rep, 0) <= (ssize_t)sizeof rep.h || rep.h.status != KREP_SIGNED)
		_exit(95);
	after = memory_holds(getppid(), &s);
	snprintf(line, sizeof line, "proto=none before=%d after=%d", before, after);
	send_text(KMSG_SUMMARY, 0, line);
	_exit(0);
}

START_TEST(key_wiped_with_the_one_signature)
{
	unsigned char content[200];
	size_t clen = tls13_content(content, "TLS 1.3, server CertificateVerify");
	const struct { enum keytype t; uint32_t op, algo; const unsigned char *in; size_t n; } cases[] = {
		{ RSA, KMSG_SIGN_HASH, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, hash_of(32), 32 },
		{ P256, KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32 },
		{ ED25519, KMSG_SIGN_DATA, GNUTLS_SIGN_EDDSA_ED25519, content, clen },
	};
	pid_t engine;

	setup_conn(cases[_i].t, false);
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY); /* Yama: the engine may read our memory */
	engine = fork();
	ck_assert_int_ge(engine, 0);
	if (engine == 0)
		scanning_engine(cases[_i].t, cases[_i].op, cases[_i].algo, cases[_i].in, cases[_i].n);
	close(engine_end);
	engine_end = -1;
	int rc = keeper_session(&C, load_key(), NULL, engine, dummy(0));
	const char *log = log_text();
	ck_assert_msg(rc == 0, "status %d; log:\n%s", rc, log);
	ck_assert_msg(strstr(log, "proto=none before=1 after=0 status=0\n"),
	              "the key in the keeper's memory before the signature, not after; log:\n%s", log);
}
END_TEST

#endif

/* ---- -o: no key, no signature ---- */

START_TEST(no_tls_reply_and_no_signature)
{
	setup_conn(P256, true);
	C.tls_problem = "no such file";
	send_sign(KMSG_SIGN_HASH, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, hash_of(32), 32);
	int rc = keeper_session(&C, load_key(), NULL, dummy(-1), dummy(0));
	const char *log = log_text();
	ck_assert_int_eq(rc, EXIT_TEMP);
	ck_assert_uint_eq(next_reply(NULL), KREP_NO_TLS);
	ck_assert_uint_eq(next_reply(NULL), KREP_REFUSED);
	ck_assert_uint_eq(next_reply(NULL), 0);
	ck_assert_msg(strstr(log, "ended the session with the engine: no key (-o)\n"), "log:\n%s", log);
}
END_TEST

/* A key that cannot be loaded: the engine is killed at once, nothing sent. */
START_TEST(key_problem_kills_the_engine_at_once)
{
	setup_conn(P256, false);
	int rc = keeper_session(&C, loaded, "no such file", dummy(-1), dummy(0));
	const char *log = log_text();
	ck_assert_int_eq(rc, EXIT_TEMP);
	ck_assert_uint_eq(next_reply(NULL), 0);
	ck_assert_msg(strstr(log, "proto=none reason=\"no such file\" status=111\n"), "log:\n%s", log);
}
END_TEST

static Suite *keeper_suite(void)
{
	Suite *s = suite_create("keeper");
	TCase *tc;

	tc = tcase_create("refusals");
	tcase_add_loop_test(tc, refused_and_session_ends, 0, (int)(sizeof refusals / sizeof refusals[0]));
	tcase_add_test(tc, log_flood_stops_at_the_cap);
	tcase_add_test(tc, log_lines_up_to_the_cap_taken);
	suite_add_tcase(s, tc);

	tc = tcase_create("budget");
	tcase_add_test(tc, ecdsa_tls13_signed_once);
	tcase_add_test(tc, ecdsa_tls12_sha384_signed_once);
	tcase_add_test(tc, rsa_pss_rsae_signed_once);
	tcase_add_test(tc, rsa_pkcs1_digestinfo_signed_once);
	tcase_add_test(tc, ed25519_tls13_signed_once);
	tcase_add_test(tc, ed25519_tls12_signed_once);
	tcase_add_test(tc, honest_session_ends_with_the_apps_status);
	tcase_add_test(tc, no_tls_reply_and_no_signature);
	tcase_add_test(tc, key_problem_kills_the_engine_at_once);
	suite_add_tcase(s, tc);

#ifndef __SANITIZE_ADDRESS__
	tc = tcase_create("wipe");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, key_wiped_with_the_one_signature, 0, 3);
	suite_add_tcase(s, tc);
#endif

	tc = tcase_create("deadline");
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, silent_engine_killed_at_the_deadline);
	tcase_add_test(tc, silent_after_a_signature_killed_at_the_deadline);
	tcase_add_test(tc, delayed_silent_after_handshake_start_killed);
	tcase_add_test(tc, delayed_second_handshake_start_refused);
	tcase_add_test(tc, delayed_plaintext_phase_has_no_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keeper_suite());
	int failed;

	make_keys();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_keys();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
