/* The data pump: full duplex between the network and the application's
 * pipes, non-blocking and poll-driven, for the plaintext phase of delayed
 * mode and for the TLS phase; and the shutdown rules of SPEC section 7. */
#ifndef UCSPI_TLSD_RELAY_H
#define UCSPI_TLSD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <gnutls/gnutls.h>

#define RELAY_BUFSIZE 65536
/* Largest prefix of TLS bytes the plaintext phase may hold back. */
#define RELAY_HELDSIZE 16384
/* The TLS phase reads the network this much at a time: four records. */
#define RELAY_READAHEAD 65536

struct buf {
	unsigned char data[RELAY_BUFSIZE];
	size_t off, len;
};

struct relay {
	gnutls_session_t tls; /* NULL in the plaintext phase */
	int net_in, net_out;
	int to_app;   /* we write what came from the network; -1 once closed */
	int from_app; /* we read what the application wrote; -1 once closed */
	int ctl;      /* plaintext phase of delayed mode: the control socket */
	int app_stdin; /* delayed mode: our copy of the read end of the application's fd 0 */
	int app_exit; /* readable once the application has exited (a pidfd), or -1 */
	bool app_gone; /* ... it has: the connection ends with it */
	unsigned idle_timeout; /* seconds, 0 = none */

	struct buf down; /* network -> application */
	struct buf up;   /* application -> network */
	size_t send_pending; /* a gnutls_record_send that returned AGAIN */
	unsigned refused_hellos; /* renegotiation records GnuTLS still holds */
	bool net_eof;        /* no more input from the network */
	bool peer_eof;       /* TLS phase: the socket read EOF (maybe without close_notify) */
	bool net_shut;       /* our write side to the network is closed */
	unsigned char last_byte; /* plaintext phase: the last byte passed on */
	bool holding;            /* plaintext phase: stopped at a TLS record */
	long long hold_until;    /* ... until then at most (monotonic ms) */
	unsigned hold_ms;        /* how long a hold may last: the handshake timeout */
	/* those bytes (at most RELAY_HELDSIZE), for the handshake; once TLS is
	 * up, what the transport read ahead for GnuTLS */
	unsigned char held[RELAY_READAHEAD];
	size_t held_len, held_off;

	unsigned long long bytes_in, bytes_out;
	unsigned long long raw_in; /* bytes the transport read from the network */
	int command;        /* the byte read from ctl */
	const char *reason; /* why the pump stopped early */
};

enum relay_result {
	RELAY_DONE,    /* both directions ended */
	RELAY_COMMAND, /* a command byte arrived on ctl (relay.command) */
	RELAY_ERROR,   /* relay.reason says why */
};

/* Make fd (if >= 0) non-blocking; done before the jail, where fcntl is
 * not allowed. */
void relay_nonblock(int fd);

/* Give a pipe to or from the application room for bulk data (before the
 * jail too). */
void relay_widen_pipe(int fd);

/* A descriptor that becomes readable when process pid exits, or -1 (a
 * kernel without pidfd_open).  Opened before the jail. */
int relay_watch_exit(pid_t pid);

/* Prepare r for the plaintext phase (r->tls NULL): fds are made
 * non-blocking, buffers empty. */
void relay_init(struct relay *r, int net_in, int net_out, int to_app, int from_app, int ctl);

enum relay_result relay_run(struct relay *r);

/* Before the handshake (delayed mode): write what the application already
 * wrote on fd 1 (its 220) to the network, then drop what the application has
 * not read, both what we hold and what waits in its fd 0 pipe.  Returns the number of plaintext bytes discarded, or -1 on a
 * write error. */
long relay_switch_to_tls(struct relay *r);

/* GnuTLS transport over read/write (pipes work too), serving held bytes
 * first.  Does not set r->tls: the plaintext phase goes on without it. */
void relay_set_transport(struct relay *r, gnutls_session_t s);

/* Wait until fd is ready for (events) or ms pass; 0 ready, -1 timeout. */
int relay_wait(int fd, short events, int ms);

#endif
