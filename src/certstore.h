/* The server's certificates: the default chain (-c) and those of the
 * certificate directory (-d), parsed by the parent before it forks, so that
 * the engine inherits them.  The engine picks one per connection, by the
 * client's SNI and by the signatures the client can verify.  Private keys
 * are not here: the parent loads them after the fork (keeper.c). */
#ifndef UCSPI_TLSD_CERTSTORE_H
#define UCSPI_TLSD_CERTSTORE_H

#include <stdbool.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "signreq.h"

#define CERTSTORE_MAX 32 /* certificates, the default one included */
#define CHAIN_MAX 16     /* certificates in one chain (GnuTLS sorts 16) */

struct certentry {
	const char *certfile, *keyfile;
	gnutls_pcert_st pcerts[CHAIN_MAX];
	unsigned npcerts;
	gnutls_x509_crt_t leaf; /* the parent checks the key against it */
	gnutls_ocsp_data_st ocsp; /* a stapled response, when nocsp is 1 */
	unsigned nocsp;
	bool default_alt; /* the default's subject too: its alternative (another key type) */
};

struct certstore {
	struct certentry e[CERTSTORE_MAX]; /* e[0] is the default certificate */
	struct keyinfo keys[CERTSTORE_MAX]; /* the key facts, by the same index */
	unsigned n;
};

/* Parse a chain (PEM, leaf first) and the facts of its key; keyfile is only
 * remembered.  Returns NULL, or the problem with certfile in words. */
const char *certstore_add(struct certstore *cs, const char *certfile, const char *keyfile);

/* Add every NAME.crt of dir, with NAME.key beside it, in name order.
 * Returns NULL, or the problem in words; *file then names the file at
 * fault (or dir itself). */
const char *certstore_add_dir(struct certstore *cs, const char *dir, const char **file);

/* Load certfile.ocsp (DER) for each certificate, if it is there and still
 * valid; a response that does not fit is logged and not stapled. */
void certstore_load_ocsp(struct certstore *cs);

/* sni lower-cased, without a trailing dot. */
void certstore_normalise_name(char *sni);

/* Does some certificate of the store name this host? */
bool certstore_knows(const struct certstore *cs, const char *sni);

/* The certificate to serve: among those that name sni (or, when none does
 * or there is no sni, the default and the certificates of -d with the same
 * subject, such as its RSA twin), the first the client can use by
 * can_use(keyinfo, arg), ECDSA before Ed25519 before RSA; if the client can
 * use none, the first of them. */
unsigned certstore_choose(const struct certstore *cs, const char *sni,
                          bool (*can_use)(const struct keyinfo *, void *), void *arg);

#endif
