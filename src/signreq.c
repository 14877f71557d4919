/* The signing message: decode and validate.  Pure code, unit-tested and
 * fuzzed; the parent trusts nothing the engine sends. */
#include <string.h>

#include "log.h"
#include "signreq.h"

static const gnutls_sign_algorithm_t rsa_algos[] = {
	/* TLS 1.2 PKCS#1 v1.5: GnuTLS asks about these, then signs as RSA_RAW */
	GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_RSA_SHA384, GNUTLS_SIGN_RSA_SHA512,
	/* TLS 1.3 needs PSS with an rsaEncryption key */
	GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384,
	GNUTLS_SIGN_RSA_PSS_RSAE_SHA512,
};

static const gnutls_sign_algorithm_t ecdsa_algos[] = {
	/* TLS 1.2 names: any curve */
	GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_SIGN_ECDSA_SHA384, GNUTLS_SIGN_ECDSA_SHA512,
};

static int in_list(const gnutls_sign_algorithm_t *list, size_t n, gnutls_sign_algorithm_t a)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == a)
			return 1;
	return 0;
}

/* TLS 1.3 ECDSA algorithms are bound to one curve. */
static gnutls_sign_algorithm_t ecdsa_tls13_algo(gnutls_ecc_curve_t curve)
{
	switch (curve) {
	case GNUTLS_ECC_CURVE_SECP256R1: return GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
	case GNUTLS_ECC_CURVE_SECP384R1: return GNUTLS_SIGN_ECDSA_SECP384R1_SHA384;
	case GNUTLS_ECC_CURVE_SECP521R1: return GNUTLS_SIGN_ECDSA_SECP521R1_SHA512;
	default: return GNUTLS_SIGN_UNKNOWN;
	}
}

int sign_algo_allowed(const struct keyinfo *key, gnutls_sign_algorithm_t algo)
{
	switch (key->pk) {
	case GNUTLS_PK_RSA:
		return in_list(rsa_algos, sizeof rsa_algos / sizeof rsa_algos[0], algo);
	case GNUTLS_PK_ECDSA:
		return in_list(ecdsa_algos, sizeof ecdsa_algos / sizeof ecdsa_algos[0], algo) ||
		       (algo != GNUTLS_SIGN_UNKNOWN && algo == ecdsa_tls13_algo(key->curve));
	case GNUTLS_PK_EDDSA_ED25519:
		return algo == GNUTLS_SIGN_EDDSA_ED25519;
	default:
		return 0;
	}
}

const char *kreq_decode(const unsigned char *buf, size_t received, struct kreq *out)
{
	if (received < sizeof out->h)
		return "short message";
	memcpy(&out->h, buf, sizeof out->h);
	if (out->h.len > SIGNREQ_MAXDATA)
		return "declared length too large";
	if (received != sizeof out->h + out->h.len)
		return "declared length differs from received length";
	if (out->h.flags != 0)
		return "non-zero flags";
	switch (out->h.op) {
	case KMSG_SIGN_HASH:
	case KMSG_SIGN_DATA:
		break;
	case KMSG_HANDSHAKE_START:
	case KMSG_HANDSHAKE_DONE:
		if (out->h.len != 0 || out->h.key != 0 || out->h.algo != 0)
			return "malformed handshake message";
		break;
	case KMSG_LOG:
	case KMSG_SUMMARY:
		/* for a log line, key carries the level; a summary has none */
		if (out->h.len > KMSG_MAXTEXT || out->h.key > (out->h.op == KMSG_LOG ? LOG_LEVEL_DEBUG : 0) ||
		    out->h.algo != 0)
			return "malformed text message";
		break;
	default:
		return "unknown operation";
	}
	memcpy(out->data, buf + sizeof out->h, out->h.len);
	return NULL;
}

const char *kmsg_summary_problem(const char *text)
{
	static const char *const parents[] = { "remote=", "mode=", "status=" };

	for (size_t i = 0; i < sizeof parents / sizeof parents[0]; i++)
		if (strstr(text, parents[i]))
			return "summary poses as the parent's fields";
	return NULL;
}

/* DER DigestInfo prefixes for SHA-256, SHA-384 and SHA-512 (RFC 8017 9.2);
 * byte 14 is the hash's OID arc, the last byte the digest length.  MD5 and
 * SHA-1 (TLS <= 1.1) are refused by not being here. */
static const unsigned char digestinfo_prefix[3][19] = {
	{ 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 },
	{ 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 },
	{ 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 },
};

int digestinfo_valid(const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < 3; i++) {
		const unsigned char *p = digestinfo_prefix[i];
		if (len == sizeof digestinfo_prefix[i] + p[18] && memcmp(data, p, sizeof digestinfo_prefix[i]) == 0)
			return 1;
	}
	return 0;
}

/* RFC 8446 4.4.3: 64 spaces, the context string, a zero byte, then the
 * transcript hash (SHA-256 or SHA-384). */
static int tls13_certverify_content(const unsigned char *data, size_t len)
{
	static const char context[] = "TLS 1.3, server CertificateVerify";
	const size_t head = 64 + sizeof context; /* sizeof counts the 0x00 */

	if (len != head + 32 && len != head + 48)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (data[i] != 0x20)
			return 0;
	return memcmp(data + 64, context, sizeof context) == 0;
}

/* RFC 8422 5.4: client_random || server_random || ServerECDHParams, where
 * the params are curve_type named_curve (3), a 2-byte group, a 1-byte point
 * length and the point: 32 (X25519), 56 (X448), 65/97/133 (P-256/384/521). */
static int tls12_ske_content(const unsigned char *data, size_t len)
{
	if (len < 68 || data[64] != 3)
		return 0;
	switch (data[67]) {
	case 32: case 56: case 65: case 97: case 133:
		return len == 68 + (size_t)data[67];
	default:
		return 0;
	}
}

int eddsa_content_valid(const unsigned char *data, size_t len)
{
	return tls13_certverify_content(data, len) || tls12_ske_content(data, len);
}

static const char *check_sign_hash(const struct kreq *req, const struct keyinfo *key)
{
	gnutls_sign_algorithm_t algo = req->h.algo;

	if (key->pk == GNUTLS_PK_EDDSA_ED25519 || algo == GNUTLS_SIGN_EDDSA_ED25519)
		return "Ed25519 signs whole content, never a digest";
	if (algo == GNUTLS_SIGN_RSA_RAW) {
		if (key->pk != GNUTLS_PK_RSA)
			return "raw RSA signature asked of a non-RSA key";
		if (!digestinfo_valid(req->data, req->h.len))
			return "not a SHA-256/384/512 DigestInfo";
		return NULL;
	}
	if (!sign_algo_allowed(key, algo))
		return "signature algorithm not allowed for this key";
	if (req->h.len != (uint32_t)gnutls_hash_get_len((gnutls_digest_algorithm_t)gnutls_sign_get_hash_algorithm(algo)))
		return "digest length does not match the algorithm";
	return NULL;
}

static const char *check_sign_data(const struct kreq *req, const struct keyinfo *key)
{
	if (key->pk != GNUTLS_PK_EDDSA_ED25519 || req->h.algo != GNUTLS_SIGN_EDDSA_ED25519)
		return "data signature asked of a key that signs digests";
	if (!eddsa_content_valid(req->data, req->h.len))
		return "content is not a TLS 1.2 or 1.3 signed structure";
	return NULL;
}

const char *kreq_check_sign(const struct kreq *req, const struct keyinfo *keys, size_t nkeys)
{
	if (req->h.key >= nkeys)
		return "unknown key index";
	if (req->h.op == KMSG_SIGN_HASH)
		return check_sign_hash(req, &keys[req->h.key]);
	if (req->h.op == KMSG_SIGN_DATA)
		return check_sign_data(req, &keys[req->h.key]);
	return "not a sign request";
}
