/* One connection: what main prepares before it forks the engine and the
 * application, and the descriptors that join the three processes. */
#ifndef UCSPI_TLSD_CONN_H
#define UCSPI_TLSD_CONN_H

#include <stdbool.h>
#include <sys/types.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "certstore.h"
#include "options.h"
#include "signreq.h"

/* Pairs are [0] read end (or parent/engine side), [1] write end. */
struct channels {
	int key[2];     /* SOCK_SEQPACKET: [0] parent, [1] engine */
	int start[2];   /* pipe: the engine writes the start block, the launcher reads it */
	int app_in[2];  /* pipe to the application's fd 0 */
	int app_out[2]; /* pipe from the application's fd 1 */
	int ctl[2];     /* delayed: SSLCTLFD socketpair, [0] engine, [1] application */
	int tls_in[2];  /* delayed: SSLREADFD pipe */
	int tls_out[2]; /* delayed: SSLWRITEFD pipe */
};

struct conn {
	const struct config *cfg;
	pid_t parent;         /* the key keeper's pid */
	pid_t app;            /* the application's, for the engine (forked after it) */
	int net_in, net_out;  /* private copies of fds 0 and 1 */
	bool fd2_is_network;  /* inetd/xinetd: fd 2 is the socket too */

	bool have_addrs;      /* the network is a TCP socket */
	char local_ip[46], local_port[6], remote_ip[46], remote_port[6];

	/* public material, parsed once before the fork */
	struct certstore certs;
	gnutls_priority_t priority;
	bool tickets;         /* session tickets, with the engine's key for this period */
	unsigned char ticket_key[64];
	const char *tls_problem; /* -o: why this connection runs without TLS */

	uid_t app_uid, tls_uid;
	gid_t app_gid, tls_gid;
	bool tls_uid_per_connection;

	struct channels ch;
};

/* Exit codes (SPEC section 7). */
#define EXIT_USAGE 100
#define EXIT_TEMP 111

void engine_main(struct conn *c) __attribute__((noreturn));
void launch_main(struct conn *c) __attribute__((noreturn));
int keeper_run(struct conn *c, pid_t engine, pid_t app);
/* The connection's one "done" line. */
void keeper_log_done(const struct conn *c, const char *summary, int code);

#endif
