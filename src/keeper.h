/* The parent: the key keeper.  keeper_run() is declared in conn.h. */
#ifndef UCSPI_TLSD_KEEPER_H
#define UCSPI_TLSD_KEEPER_H

#include <sys/types.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/* Load a PEM private key (never a passphrase) and check that it belongs to
 * the certificate.  NULL, or the problem in words. */
const char *keeper_load_key(const char *file, gnutls_x509_crt_t cert, gnutls_privkey_t *out);

/* The parent's side of one connection, once the keys are loaded (keys,
 * CERTSTORE_MAX of them by certificate index, taken over) or
 * not needed (c->tls_problem, -o): tell the engine to go ahead, answer it
 * until it closes the key channel, breaks a rule of SPEC section 5 or
 * stays silent past the handshake deadline (then it is killed), wipe the
 * key, reap both children, log the "done" line.  With failure set (the key
 * could not be loaded) the engine is killed at once.  Returns the
 * connection's exit status.  keeper_run() calls it; so do the unit tests,
 * with a fake engine. */
struct conn;
int keeper_session(struct conn *c, gnutls_privkey_t *keys, const char *failure, pid_t engine, pid_t app);

/* -o: a certificate or key problem in delayed mode.  Logs it and marks the
 * connection to run without TLS. */
void keeper_no_tls(struct conn *c, const char *what, const char *file, const char *problem);

#endif
