/* libFuzzer harness: the parent's decoder and validator of what the engine
 * sends on the key channel (src/signreq.c), with one key of each kind the
 * parent accepts.  The input is one SOCK_SEQPACKET message as received.
 * Besides the sanitizers, it checks what a passed request promises the
 * signing code: a length that fits, and the shapes SPEC section 5 allows. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "signreq.h"

static const struct keyinfo keys[] = {
	{ GNUTLS_PK_RSA, GNUTLS_ECC_CURVE_INVALID, 2048 },
	{ GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP256R1, 256 },
	{ GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP384R1, 384 },
	{ GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP521R1, 521 },
	{ GNUTLS_PK_EDDSA_ED25519, GNUTLS_ECC_CURVE_INVALID, 256 },
};
#define NKEYS (sizeof keys / sizeof keys[0])

static void broken(const char *what)
{
	fprintf(stderr, "fuzz-signreq: %s\n", what);
	abort();
}

/* A request the parent would sign: the shapes it may have. */
static void check_granted(const struct kreq *req)
{
	const struct keyinfo *key = &keys[req->h.key];
	gnutls_sign_algorithm_t algo = req->h.algo;

	if (req->h.op == KMSG_SIGN_DATA) {
		if (key->pk != GNUTLS_PK_EDDSA_ED25519 || !eddsa_content_valid(req->data, req->h.len))
			broken("a data signature passed for a key or content it is not for");
	} else if (algo == GNUTLS_SIGN_RSA_RAW) {
		if (key->pk != GNUTLS_PK_RSA || !digestinfo_valid(req->data, req->h.len))
			broken("a raw RSA signature passed without an RSA key and a DigestInfo");
	} else if (!sign_algo_allowed(key, algo) ||
	           req->h.len != gnutls_hash_get_len((gnutls_digest_algorithm_t)gnutls_sign_get_hash_algorithm(algo))) {
		broken("a digest signature passed with a wrong algorithm or digest length");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kreq req;

	if (kreq_decode(data, size, &req))
		return 0;
	if (req.h.len > SIGNREQ_MAXDATA || size != sizeof req.h + req.h.len)
		broken("a message passed with a length that does not match");
	if (req.h.op != KMSG_SIGN_HASH && req.h.op != KMSG_SIGN_DATA)
		return 0;
	if (!kreq_check_sign(&req, keys, NKEYS))
		check_granted(&req);
	return 0;
}
