/* The parent: the key keeper.  keeper_run() is declared in conn.h. */
#ifndef UCSPI_TLSD_KEEPER_H
#define UCSPI_TLSD_KEEPER_H

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/* Load a PEM private key (never a passphrase) and check that it belongs to
 * the certificate.  NULL, or the problem in words. */
const char *keeper_load_key(const char *file, gnutls_x509_crt_t cert, gnutls_privkey_t *out);

#endif
