/* The engine's GnuTLS session: which certificate to serve, client
 * certificates, session tickets, ALPN; and what of it the application sees. */
#ifndef UCSPI_TLSD_SESSION_H
#define UCSPI_TLSD_SESSION_H

#include <gnutls/gnutls.h>

#include "conn.h"
#include "ucspienv.h"

/* A server session on cred, whose keys[i] stand for the certificate
 * c->certs.e[i].  All file access (CA, CRL) happens here, before the jail.
 * Returns NULL and sets *s, or the problem in words. */
const char *session_new(struct conn *c, gnutls_certificate_credentials_t cred, gnutls_privkey_t *keys,
                        gnutls_session_t *s);

/* The client's SNI, lower-cased and without a trailing dot, or NULL. */
const char *session_sni(gnutls_session_t s);

/* The variables of the client certificate (only when one was requested and
 * verified) and of ALPN. */
void session_env(gnutls_session_t s, struct envblock *b);
/* -A, once the handshake is done: NULL if the client's certificate
 * verifies now, else why the session must end.  A resumed session has had
 * no Certificate message: its ticket may come from a service that shares
 * the ticket key without asking for a certificate, or the certificate may
 * have been revoked since (-C). */
const char *session_client_cert_problem(gnutls_session_t s);

#endif
