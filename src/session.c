/* Setting up the engine's session, and reading the session's results. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certstore.h"
#include "log.h"
#include "session.h"
#include "tickets.h"

static struct conn *S;
static gnutls_privkey_t *Keys;

/* A client certificate must be one for TLS clients. */
static gnutls_typed_vdata_st client_purpose = {
	.type = GNUTLS_DT_KEY_PURPOSE_OID,
	.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
};

const char *session_sni(gnutls_session_t s)
{
	static char sni[256];
	size_t len = sizeof sni - 1;
	unsigned type;

	if (gnutls_server_name_get(s, sni, &len, &type, 0) != 0 || type != GNUTLS_NAME_DNS)
		return NULL;
	sni[len] = '\0';
	certstore_normalise_name(sni);
	return sni[0] ? sni : NULL;
}

/* ---- the certificate ---- */

/* TLS 1.2 ties the certificate's key type to the cipher suite, so the
 * suites the ClientHello offers are noted before GnuTLS picks one. */
static struct {
	bool ecdsa, rsa; /* an ECDHE_ECDSA (also Ed25519) or ECDHE_RSA suite */
} offered;

static gnutls_kx_algorithm_t suite_kx(const unsigned char *id)
{
	unsigned char cs[2];
	gnutls_kx_algorithm_t kx;
	gnutls_cipher_algorithm_t cipher;
	gnutls_mac_algorithm_t mac;
	gnutls_protocol_t min;

	for (size_t i = 0; gnutls_cipher_suite_info(i, cs, &kx, &cipher, &mac, &min); i++)
		if (cs[0] == id[0] && cs[1] == id[1])
			return kx;
	return GNUTLS_KX_UNKNOWN;
}

/* msg: the ClientHello body, not yet parsed by GnuTLS (RFC 5246 7.4.1.2):
 * version (2), random (32), session_id (1 + n), cipher_suites (2 + n). */
static int note_offered_suites(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                               const gnutls_datum_t *msg)
{
	const unsigned char *p = msg->data;
	size_t at = 34, n;

	(void)s, (void)htype, (void)when, (void)incoming;
	if (msg->size <= at)
		return 0;
	at += 1 + (size_t)p[at];
	if (msg->size < at + 2)
		return 0;
	n = (size_t)p[at] << 8 | p[at + 1];
	at += 2;
	for (size_t i = 0; i + 1 < n && at + i + 1 < msg->size; i += 2) {
		gnutls_kx_algorithm_t kx = suite_kx(p + at + i);
		offered.ecdsa |= kx == GNUTLS_KX_ECDHE_ECDSA;
		offered.rsa |= kx == GNUTLS_KX_ECDHE_RSA;
	}
	return 0; /* GnuTLS judges the message itself */
}

/* Can the client use this key: a signature algorithm it offered that the
 * key can make, and in TLS 1.2 a cipher suite for the key's type? */
static bool client_can_verify(const struct keyinfo *key, void *arg)
{
	gnutls_session_t s = arg;
	gnutls_sign_algorithm_t algo;

	if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_2 && !(key->pk == GNUTLS_PK_RSA ? offered.rsa : offered.ecdsa))
		return false;
	for (unsigned i = 0; gnutls_sign_algorithm_get_requested(s, i, &algo) == 0; i++)
		if (sign_algo_allowed(key, algo))
			return true;
	return false;
}

/* GnuTLS calls this once per full handshake, after the ClientHello; left
 * to itself, in TLS 1.2 it could serve another name's certificate when its
 * cipher suite preference disagrees with the SNI. */
static int pick_certificate(gnutls_session_t s, const struct gnutls_cert_retr_st *info, gnutls_pcert_st **pcert,
                            unsigned *npcert, gnutls_ocsp_data_st **ocsp, unsigned *nocsp, gnutls_privkey_t *key,
                            unsigned *flags)
{
	unsigned i = certstore_choose(&S->certs, session_sni(s), client_can_verify, s);
	struct certentry *e = &S->certs.e[i];

	(void)info;
	*pcert = e->pcerts;
	*npcert = e->npcerts;
	*ocsp = e->nocsp ? &e->ocsp : NULL;
	*nocsp = e->nocsp;
	*key = Keys[i];
	*flags = 0; /* all of it stays ours */
	log_debug("serving certificate %s", e->certfile);
	return 0;
}

/* -x: an SNI that no certificate names ends the handshake. */
static int refuse_unknown_name(gnutls_session_t s)
{
	const char *sni = session_sni(s);

	return sni && !certstore_knows(&S->certs, sni) ? GNUTLS_E_UNRECOGNIZED_NAME : 0;
}

/* ---- client certificates ---- */

static const char *load_client_ca(gnutls_certificate_credentials_t cred)
{
	static char why[160];
	const struct config *cfg = S->cfg;
	int ret = gnutls_certificate_set_x509_trust_file(cred, cfg->client_ca, GNUTLS_X509_FMT_PEM);

	if (ret <= 0) {
		snprintf(why, sizeof why, "-%c %s: %s", cfg->client_certs == CLIENT_CERTS_REQUIRE ? 'A' : 'a',
		         cfg->client_ca, ret == 0 ? "no PEM certificate in it" : gnutls_strerror(ret));
		return why;
	}
	if (cfg->client_crl &&
	    (ret = gnutls_certificate_set_x509_crl_file(cred, cfg->client_crl, GNUTLS_X509_FMT_PEM)) <= 0) {
		snprintf(why, sizeof why, "-C %s: %s", cfg->client_crl, ret == 0 ? "no PEM CRL in it" : gnutls_strerror(ret));
		return why;
	}
	return NULL;
}

/* Request: the handshake goes on without a (good) certificate, and the
 * application then sees no SSL_CLIENT_* variable.  Require: it fails. */
static void ask_for_client_certs(gnutls_session_t s)
{
	bool require = S->cfg->client_certs == CLIENT_CERTS_REQUIRE;

	gnutls_certificate_server_set_request(s, require ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
	if (require)
		gnutls_session_set_verify_cert2(s, &client_purpose, 1, 0);
}

/* ---- ALPN ---- */

static int offer_alpn(gnutls_session_t s, const char *list)
{
	gnutls_datum_t protos[ALPN_MAX];
	unsigned n = 0;

	for (const char *p = list; n < ALPN_MAX; p++) { /* options.c checked the list */
		size_t len = strcspn(p, ",");
		protos[n].data = (unsigned char *)p;
		protos[n++].size = (unsigned)len;
		p += len;
		if (!*p)
			break;
	}
	return gnutls_alpn_set_protocols(s, protos, n, GNUTLS_ALPN_SERVER_PRECEDENCE);
}

/* ---- the session ---- */

/* Session secrets never go to a file: GnuTLS's default would open
 * SSLKEYLOGFILE, when it is set, in the jail (a forbidden system call). */
static int no_keylog(gnutls_session_t s, const char *label, const gnutls_datum_t *secret)
{
	(void)s, (void)label, (void)secret;
	return 0;
}

static const char *configure(gnutls_session_t s, gnutls_certificate_credentials_t cred)
{
	if (gnutls_priority_set(s, S->priority) < 0 || gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		return "unable to set up the TLS session";
	gnutls_session_set_keylog_function(s, no_keylog);
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE, note_offered_suites);
	if (S->cfg->refuse_unknown_names)
		gnutls_handshake_set_post_client_hello_function(s, refuse_unknown_name);
	if (S->cfg->client_certs != CLIENT_CERTS_NONE)
		ask_for_client_certs(s);
	if (S->cfg->alpn && offer_alpn(s, S->cfg->alpn) < 0)
		return "unable to set up ALPN";
	if (S->tickets) {
		gnutls_datum_t key = { S->ticket_key, TICKET_KEY_SIZE };
		if (gnutls_session_ticket_enable_server(s, &key) < 0)
			return "unable to set up session tickets";
		gnutls_db_set_cache_expiration(s, (int)S->cfg->ticket_lifetime);
	}
	return NULL;
}

const char *session_new(struct conn *c, gnutls_certificate_credentials_t cred, gnutls_privkey_t *keys,
                        gnutls_session_t *s)
{
	/* TLS 1.2 tickets carry the master secret: a TLS 1.3 ticket does not
	 * open recorded traffic to whoever learns the ticket key */
	unsigned tickets = c->tickets ? GNUTLS_NO_TICKETS_TLS12 : GNUTLS_NO_TICKETS;
	const char *err;

	S = c;
	Keys = keys;
	gnutls_certificate_set_retrieve_function3(cred, pick_certificate);
	if (c->cfg->client_certs != CLIENT_CERTS_NONE) {
		time_t epoch = 0;
		struct tm tm;
		/* glibc reads /etc/localtime on its first time conversion, even
		 * gmtime's: that must happen here, not in the jail */
		gmtime_r(&epoch, &tm);
		if ((err = load_client_ca(cred)))
			return err;
	}
	if (gnutls_init(s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL | tickets) < 0)
		return "unable to set up the TLS session";
	return configure(*s, cred);
}

/* ---- what the application sees ---- */

static void add_dn(struct envblock *b, const char *name, int (*get)(gnutls_x509_crt_t, gnutls_datum_t *, unsigned),
                   gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn;

	if (get(crt, &dn, 0) == 0) {
		envblock_add(b, name, (const char *)dn.data);
		gnutls_free(dn.data);
	}
}

static void add_cn(struct envblock *b, gnutls_x509_crt_t crt)
{
	char cn[256];
	size_t len = sizeof cn;

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) == 0)
		envblock_add(b, "SSL_CLIENT_S_DN_CN", cn);
}

static void add_serial(struct envblock *b, gnutls_x509_crt_t crt)
{
	unsigned char serial[64];
	char hex[2 * sizeof serial + 1];
	size_t len = sizeof serial;

	if (gnutls_x509_crt_get_serial(crt, serial, &len) < 0)
		return;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02X", serial[i]);
	hex[2 * len] = '\0';
	envblock_add(b, "SSL_CLIENT_M_SERIAL", hex);
}

/* mod_ssl's form: "Dec  3 17:52:49 2026 GMT".  Not strftime: in the jail
 * it must not look for /etc/localtime. */
static void add_end(struct envblock *b, gnutls_x509_crt_t crt)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = gnutls_x509_crt_get_expiration_time(crt);
	struct tm tm;
	char text[64];

	if (t == (time_t)-1 || !gmtime_r(&t, &tm))
		return;
	snprintf(text, sizeof text, "%s %2d %02d:%02d:%02d %d GMT", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, tm.tm_year + 1900);
	envblock_add(b, "SSL_CLIENT_V_END", text);
}

/* The leaf the client sent, if it was requested and verifies. */
static gnutls_x509_crt_t verified_client_cert(gnutls_session_t s)
{
	unsigned n = 0, status = 0;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
	gnutls_x509_crt_t crt;
	gnutls_datum_t text;

	if (S->cfg->client_certs == CLIENT_CERTS_NONE || !peers || n == 0)
		return NULL;
	if (gnutls_certificate_verify_peers(s, &client_purpose, 1, &status) < 0 || status != 0) {
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
			log_info("client certificate not accepted: %s", (const char *)text.data);
			gnutls_free(text.data);
		}
		return NULL;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	return crt;
}

static void client_cert_env(gnutls_session_t s, struct envblock *b)
{
	gnutls_x509_crt_t crt = verified_client_cert(s);

	if (!crt)
		return;
	add_dn(b, "SSL_CLIENT_S_DN", gnutls_x509_crt_get_dn3, crt);
	add_cn(b, crt);
	add_dn(b, "SSL_CLIENT_I_DN", gnutls_x509_crt_get_issuer_dn3, crt);
	add_serial(b, crt);
	add_end(b, crt);
	envblock_add(b, "SSL_CLIENT_VERIFY", "SUCCESS");
	gnutls_x509_crt_deinit(crt);
}

const char *session_client_cert_problem(gnutls_session_t s)
{
	gnutls_x509_crt_t crt;

	if (S->cfg->client_certs != CLIENT_CERTS_REQUIRE)
		return NULL;
	if (!(crt = verified_client_cert(s)))
		return "no valid client certificate in the resumed session (-A)";
	gnutls_x509_crt_deinit(crt);
	return NULL;
}

void session_env(gnutls_session_t s, struct envblock *b)
{
	gnutls_datum_t proto;
	char alpn[256];

	client_cert_env(s, b);
	if (gnutls_alpn_get_selected_protocol(s, &proto) == 0) {
		snprintf(alpn, sizeof alpn, "%.*s", (int)proto.size, (const char *)proto.data);
		envblock_add(b, "SSL_ALPN_PROTOCOL", alpn);
	}
}
