/* The key channel between the engine and the parent (key keeper).
 *
 * One SOCK_SEQPACKET message per request or reply, so message boundaries come
 * for free and the privileged side has no framing code.  Everything here is
 * pure (no I/O) so that unit tests and fuzzers call it directly. */
#ifndef UCSPI_TLSD_SIGNREQ_H
#define UCSPI_TLSD_SIGNREQ_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* Largest to-be-signed input: an Ed25519 TLS 1.2 ServerKeyExchange content
 * is 64 + 4 + 133 bytes at most (P-521 point); a SHA-512 DigestInfo is 83. */
#define SIGNREQ_MAXDATA 512
/* Largest signature: RSA-8192. */
#define SIGNREP_MAXSIG 1024
/* Largest text message (log line or session summary) from the engine. */
#define KMSG_MAXTEXT 400

/* Engine -> parent. */
enum kmsg_op {
	KMSG_SIGN_HASH = 1,      /* sign a digest (RSA, RSA-PSS, ECDSA) */
	KMSG_SIGN_DATA = 2,      /* sign whole content (Ed25519) */
	KMSG_HANDSHAKE_DONE = 3, /* no more signatures will be needed */
	KMSG_LOG = 4,            /* a log line (text) */
	KMSG_SUMMARY = 5,        /* the session's fields for the final log line (text) */
	KMSG_HANDSHAKE_START = 6, /* delayed mode: the handshake begins; the
	                             parent's deadline starts (once) */
};

struct kreq_header {
	uint32_t op;
	uint32_t key;   /* index in the parent's key table */
	uint32_t algo;  /* gnutls_sign_algorithm_t */
	uint32_t flags; /* must be 0 */
	uint32_t len;   /* bytes in data */
};

struct kreq {
	struct kreq_header h;
	unsigned char data[SIGNREQ_MAXDATA];
};

/* Parent -> engine. */
enum krep_status {
	KREP_READY = 1,   /* key loaded and matches the certificate: go ahead */
	KREP_SIGNED = 2,  /* sig holds the signature */
	KREP_REFUSED = 3, /* request refused; the session ends */
	KREP_NO_TLS = 4,  /* -o: a certificate or key problem; relay plaintext
	                     to an application started without UCSPITLS */
};

struct krep_header {
	uint32_t status;
	uint32_t len;
};

struct krep {
	struct krep_header h;
	unsigned char sig[SIGNREP_MAXSIG];
};

/* What the parent knows about a key, enough to judge a request. */
struct keyinfo {
	gnutls_pk_algorithm_t pk;
	gnutls_ecc_curve_t curve; /* ECDSA only */
	unsigned bits;
};

/* Can a key of this kind make this signature?  Used by the engine's
 * info callback (which algorithms to offer) and by the parent. */
int sign_algo_allowed(const struct keyinfo *key, gnutls_sign_algorithm_t algo);

/* Decode a received message: the declared length must equal what arrived.
 * Returns NULL if it is well formed, else the reason in words. */
const char *kreq_decode(const unsigned char *buf, size_t received, struct kreq *out);

/* Judge a decoded sign request against the key it names.  Returns NULL if
 * the parent may sign it, else the reason in words.  Does not count the
 * budget: that is the keeper's state. */
const char *kreq_check_sign(const struct kreq *req, const struct keyinfo *keys, size_t nkeys);

/* Is this engine summary fit for the "done" line?  NULL, or the reason it
 * is not: it may not carry the fields the parent writes itself. */
const char *kmsg_summary_problem(const char *text);

/* Is data the SHA-256/384/512 DigestInfo that TLS 1.2 RSA PKCS#1 signs? */
int digestinfo_valid(const unsigned char *data, size_t len);

/* Is data one of the two contents TLS signs with Ed25519? */
int eddsa_content_valid(const unsigned char *data, size_t len);

#endif
