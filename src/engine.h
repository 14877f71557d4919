/* The TLS engine: credentials with an external key, the handshake, the
 * UCSPI-TLS control protocol, inside its jail.  engine_main() is declared in
 * conn.h with the other roles. */
#ifndef UCSPI_TLSD_ENGINE_H
#define UCSPI_TLSD_ENGINE_H

#include <gnutls/gnutls.h>

#include "ucspienv.h"

/* The SSL_* variables for a finished handshake (SPEC section 6). */
void engine_session_env(gnutls_session_t s, struct envblock *b);

#endif
