/* libFuzzer harness: the flags and environment parser (src/options.c).
 * The input is NUL-separated strings: the arguments after the program name,
 * then an empty string, then NAME=value entries that the fake environment
 * lookup serves.  Besides the sanitizers, it checks the promises main()
 * relies on: a parsed config is complete and in range, an error is one
 * line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAXSTRINGS 64

static char *env[MAXSTRINGS];
static size_t nenv;

static const char *fake_getenv(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < nenv; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static void broken(const char *what)
{
	fprintf(stderr, "fuzz-options: %s\n", what);
	abort();
}

/* session.c fills an array of ALPN_MAX from it without checking again. */
static void check_alpn(const char *list)
{
	unsigned n = 0;

	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len > 255 || ++n > ALPN_MAX)
			broken("an ALPN list that session.c cannot take");
		p += len;
		if (!*p)
			break;
	}
}

static void check_config(const struct config *cfg)
{
	if (!cfg->certfile || !cfg->keyfile || !cfg->jail_dir || !cfg->priority || !cfg->app_argv || !cfg->app_argv[0])
		broken("a parsed config lacks a file, the jail, the priority or the program");
	if (cfg->handshake_timeout < 1 || cfg->handshake_timeout > 86400 || cfg->idle_timeout > 86400)
		broken("a timeout out of range");
	if (!cfg->tls_user && !cfg->tls_uid != !cfg->tls_gid)
		broken("TLS_UID without TLS_GID, or the other way round");
	if (cfg->app_ids_from_env && !cfg->app_user && (!cfg->app_uid || !cfg->app_gid))
		broken("-U without UID and GID");
	if (cfg->verbosity < 0 || cfg->verbosity > 2)
		broken("verbosity out of range");
	if (cfg->ticket_lifetime < 1 || cfg->ticket_lifetime > TICKET_PERIOD)
		broken("a ticket lifetime out of range");
	if ((cfg->client_certs != CLIENT_CERTS_NONE) != !!cfg->client_ca || (cfg->client_crl && !cfg->client_ca))
		broken("client certificates without a CA file, or a CRL without them");
	if (cfg->tickets_with_client_certs && !cfg->ticket_keyfile)
		broken("-e without -s");
	if (cfg->alpn)
		check_alpn(cfg->alpn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[4096];
	char *argv[MAXSTRINGS + 2];
	int argc = 0;
	struct config cfg;
	const char *err;
	char *p;

	if (size >= sizeof text)
		return -1;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[argc++] = "ucspi-tlsd";
	nenv = 0;
	for (p = text; p < text + size && *p && argc < MAXSTRINGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	for (p += strlen(p) + 1; p < text + size && nenv < MAXSTRINGS; p += strlen(p) + 1)
		env[nenv++] = p;
	switch (options_parse(&cfg, argc, argv, fake_getenv, &err)) {
	case OPTIONS_OK:
		if (err)
			broken("success with an error message");
		check_config(&cfg);
		break;
	case OPTIONS_USAGE:
		if (!err || !*err || strchr(err, '\n'))
			broken("a usage error without a one-line message");
		break;
	case OPTIONS_HELP:
	case OPTIONS_VERSION:
		break;
	}
	return 0;
}
