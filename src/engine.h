/* The TLS engine: credentials with an external key, the handshake, the
 * UCSPI-TLS control protocol, inside its jail.  engine_main() is declared in
 * conn.h with the other roles. */
#ifndef UCSPI_TLSD_ENGINE_H
#define UCSPI_TLSD_ENGINE_H

#include <gnutls/gnutls.h>

#include "conn.h"
#include "ucspienv.h"

/* engine_main() in two halves, split so that the fuzz harnesses
 * (tests/fuzz/) can run the engine's real code without the jail and the
 * seccomp policy: engine_main() always enters both between them.
 * engine_prepare() sets up the session and the relay on c's descriptors
 * (before the jail); engine_serve() waits for the key keeper and serves the
 * connection, then exits. */
gnutls_session_t engine_prepare(struct conn *c);
void engine_serve(gnutls_session_t s) __attribute__((noreturn));

/* The SSL_* variables for a finished handshake (SPEC section 6). */
void engine_session_env(gnutls_session_t s, struct envblock *b);

#endif
