/* Session tickets across per-connection processes.
 *
 * The master key file is read by the parent, as root, before the engine is
 * forked; the engine receives only a key derived for the current period
 * (HMAC-SHA-512 of the master key and the period's number), so an engine
 * that is broken into exposes tickets of one period, never the master key. */
#ifndef UCSPI_TLSD_TICKETS_H
#define UCSPI_TLSD_TICKETS_H

#include <stdbool.h>
#include <time.h>

#define TICKET_KEY_SIZE 64 /* what gnutls_session_ticket_enable_server takes */
#define TICKET_MASTER_MIN 32

/* Is this GnuTLS version free of the all-zero ticket key bug (CVE-2020-13777,
 * fixed in 3.6.14)? */
bool tickets_version_ok(const char *version);

/* The engine's key for the period of now (periods of period_secs seconds
 * since the epoch), from the master key in file (root's, mode 0600 or
 * stricter, at least TICKET_MASTER_MIN bytes).  Returns NULL, or the
 * problem in words.  The master key is wiped before returning. */
const char *tickets_engine_key(const char *file, time_t now, unsigned period_secs,
                               unsigned char out[TICKET_KEY_SIZE]);

/* The derivation itself (pure). */
int tickets_derive(const unsigned char *master, size_t len, unsigned long long period,
                   unsigned char out[TICKET_KEY_SIZE]);

/* With client certificates (-e): bind the engine's key to the service's
 * client-certificate policy (context: the mode and a digest of the CA
 * file), so that a ticket minted where another policy holds (a service
 * that shares the key file without -A) cannot be opened here, and the
 * client makes a full handshake with its certificate.  Pure. */
int tickets_bind(unsigned char key[TICKET_KEY_SIZE], const unsigned char *context, size_t len);

#endif
