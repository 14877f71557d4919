/* Flags and the compatible environment variables (ucspi-tcp, s6-networking). */
#ifndef UCSPI_TLSD_OPTIONS_H
#define UCSPI_TLSD_OPTIONS_H

#include <stdbool.h>

/* TLS 1.3 and 1.2; ECDHE only (no RSA key exchange: the parent has no
 * decrypt operation); AEAD with AES-GCM first; X25519 first, the key share
 * most clients send, so that they get no HelloRetryRequest; no SHA-1 or
 * SHA-224 signatures, which GnuTLS would otherwise assume for a TLS 1.2
 * client that sends no signature_algorithms, and the parent refuses. */
#define DEFAULT_PRIORITY \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:" \
	"-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-RSA-SHA224:-SIGN-ECDSA-SHA224:%SERVER_PRECEDENCE"
#ifdef JAIL_DIR
#define DEFAULT_JAIL_DIR JAIL_DIR
#else
#define DEFAULT_JAIL_DIR "/var/lib/ucspi-tlsd/empty"
#endif
#define DEFAULT_HANDSHAKE_TIMEOUT 30
/* Session tickets: their lifetime, and how long one engine ticket key lasts
 * (a lifetime longer than that could not be honoured). */
#define DEFAULT_TICKET_LIFETIME 3600
#define TICKET_PERIOD 21600
#define ALPN_MAX 8 /* protocols in -L */

enum client_certs { CLIENT_CERTS_NONE, CLIENT_CERTS_REQUEST, CLIENT_CERTS_REQUIRE };

struct config {
	bool delayed;            /* -n */
	bool fallback;           /* -o: with -n, a certificate or key problem
	                            starts the application without UCSPITLS */
	const char *certfile;    /* -c, CERTFILE */
	const char *keyfile;     /* -k, KEYFILE */
	const char *app_user;    /* -u */
	bool app_ids_from_env;   /* -U: UID and GID */
	const char *app_uid;     /* UID (tcpserver -U style) */
	const char *app_gid;     /* GID */
	const char *tls_user;    /* -j, or TLS_UID/TLS_GID */
	const char *tls_uid;
	const char *tls_gid;
	const char *jail_dir;    /* -J */
	const char *priority;    /* -p */
	const char *certdir;     /* -d: one chain per NAME.crt, key in NAME.key */
	bool refuse_unknown_names; /* -x: unrecognized_name for an SNI no certificate names */
	enum client_certs client_certs; /* -a (request) or -A (require) */
	const char *client_ca;   /* -a, -A: CA file the client's certificate must chain to */
	const char *client_crl;  /* -C */
	const char *ticket_keyfile; /* -s: session tickets' master key */
	unsigned ticket_lifetime;   /* -S, seconds */
	bool tickets_with_client_certs; /* -e */
	const char *alpn;        /* -L: comma-separated protocol names */
	unsigned handshake_timeout; /* -T, seconds */
	unsigned idle_timeout;      /* -t, seconds, 0 = none */
	int verbosity;           /* 0 quiet, 1 default, 2 verbose */
	int syslog_facility;     /* -l, LOG_MAIL by default */
	char **app_argv;         /* the application and its arguments */
};

enum options_result {
	OPTIONS_OK,
	OPTIONS_USAGE,   /* *err says what is wrong */
	OPTIONS_HELP,    /* -h */
	OPTIONS_VERSION, /* -V */
};

/* Parse argv and, where a flag is absent, the environment (getenv_fn, so that
 * tests can pass their own).  Does no I/O and resolves no user names. */
enum options_result options_parse(struct config *cfg, int argc, char **argv,
                                  const char *(*getenv_fn)(const char *), const char **err);

extern const char options_usage[];

#endif
