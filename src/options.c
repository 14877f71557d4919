/* Flags plus compatible environment variables; usage.  Pure code. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "options.h"

const char options_usage[] =
	"usage: ucspi-tlsd [-noqvUxehV] [-c certfile] [-k keyfile] [-d certdir] [-u user] [-j user]\n"
	"                  [-J dir] [-T secs] [-t secs] [-p priority] [-l facility] [-a|-A cafile]\n"
	"                  [-C crlfile] [-s ticketkeyfile] [-S secs] [-L protocols] prog [args...]\n";

static int parse_seconds(const char *s, unsigned *out, unsigned long max)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* The syslog facilities a mail server's log may go to (not kern: a user
 * process cannot log there). */
static const struct { const char *name; int code; } facilities[] = {
	{ "mail", LOG_MAIL },     { "daemon", LOG_DAEMON }, { "user", LOG_USER },     { "auth", LOG_AUTH },
	{ "authpriv", LOG_AUTHPRIV }, { "news", LOG_NEWS }, { "uucp", LOG_UUCP },     { "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static int parse_facility(const char *s, int *out)
{
	for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
		if (strcmp(s, facilities[i].name) == 0) {
			*out = facilities[i].code;
			return 0;
		}
	return -1;
}

/* Names the flag, in a buffer of its own (one parse at a time); word is
 * the argument it came from, for a long option (--starttls). */
static const char *unknown_or_missing(int opt, const char *word)
{
	static char msg[96];
	int missing = opt && strchr("ckdujJTtplaACsSL", opt);
	int shown = 0; /* the printable start of word: the message stays one line */

	while (word && shown < 40 && word[shown] > 0x20 && word[shown] < 0x7f)
		shown++;
	if (opt == '-' && shown > 2 && strncmp(word, "--", 2) == 0)
		snprintf(msg, sizeof msg, "unknown option %.*s (only one-letter flags)", shown, word);
	else
		snprintf(msg, sizeof msg, missing ? "-%c needs an argument" : "unknown option -%c",
		         opt > 0x20 && opt < 0x7f ? opt : '?');
	return msg;
}

static void defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->jail_dir = DEFAULT_JAIL_DIR;
	cfg->priority = DEFAULT_PRIORITY;
	cfg->handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
	cfg->ticket_lifetime = DEFAULT_TICKET_LIFETIME;
	cfg->verbosity = 1;
	cfg->syslog_facility = LOG_MAIL;
}

/* The environment fills in what no flag gave. */
static const char *apply_environment(struct config *cfg, const char *(*getenv_fn)(const char *))
{
	if (!cfg->certfile)
		cfg->certfile = getenv_fn("CERTFILE");
	if (!cfg->keyfile)
		cfg->keyfile = getenv_fn("KEYFILE");
	if (!cfg->keyfile)
		cfg->keyfile = cfg->certfile; /* key and chain may share one file */
	if (!cfg->tls_user) {
		cfg->tls_uid = getenv_fn("TLS_UID");
		cfg->tls_gid = getenv_fn("TLS_GID");
		if (!cfg->tls_uid != !cfg->tls_gid)
			return "TLS_UID and TLS_GID must be set together";
	}
	if (!cfg->app_user && cfg->app_ids_from_env) {
		cfg->app_uid = getenv_fn("UID");
		cfg->app_gid = getenv_fn("GID");
		if (!cfg->app_uid || !cfg->app_gid)
			return "-U needs UID and GID in the environment";
	}
	if (!cfg->certfile)
		return "no certificate: give -c file or set CERTFILE";
	if (cfg->fallback && !cfg->delayed) /* a port 465 client speaks TLS first */
		return "-o needs -n: only delayed mode can do without TLS";
	return NULL;
}

/* Each protocol 1 to 255 bytes, at most ALPN_MAX of them. */
static int alpn_list_valid(const char *list)
{
	unsigned count = 0;

	for (const char *p = list;; p++) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > 255 || ++count > ALPN_MAX)
			return 0;
		p += n;
		if (!*p)
			return 1;
	}
}

/* Flags that only make sense with others. */
static const char *check_combinations(const struct config *cfg)
{
	if (cfg->client_crl && cfg->client_certs == CLIENT_CERTS_NONE)
		return "-C needs -a or -A";
	if (cfg->tickets_with_client_certs && !cfg->ticket_keyfile)
		return "-e needs -s";
	if (cfg->alpn && !alpn_list_valid(cfg->alpn))
		return "-L wants up to 8 comma-separated protocol names of 1 to 255 bytes";
	return NULL;
}

enum options_result options_parse(struct config *cfg, int argc, char **argv,
                                  const char *(*getenv_fn)(const char *), const char **err)
{
	int c;

	defaults(cfg);
	*err = NULL;
	optind = 0; /* glibc: 0 also forgets a half-read group of flags */
	opterr = 0;
	while ((c = getopt(argc, argv, "+noc:k:d:xu:Uj:J:T:t:p:l:a:A:C:s:S:eL:qvhV")) != -1) {
		switch (c) {
		case 'n': cfg->delayed = true; break;
		case 'o': cfg->fallback = true; break;
		case 'c': cfg->certfile = optarg; break;
		case 'k': cfg->keyfile = optarg; break;
		case 'u': cfg->app_user = optarg; break;
		case 'U': cfg->app_ids_from_env = true; break;
		case 'j': cfg->tls_user = optarg; break;
		case 'J': cfg->jail_dir = optarg; break;
		case 'p': cfg->priority = optarg; break;
		case 'd': cfg->certdir = optarg; break;
		case 'x': cfg->refuse_unknown_names = true; break;
		case 'a':
		case 'A':
			cfg->client_certs = c == 'a' ? CLIENT_CERTS_REQUEST : CLIENT_CERTS_REQUIRE;
			cfg->client_ca = optarg;
			break;
		case 'C': cfg->client_crl = optarg; break;
		case 's': cfg->ticket_keyfile = optarg; break;
		case 'e': cfg->tickets_with_client_certs = true; break;
		case 'L': cfg->alpn = optarg; break;
		case 'S':
			if (parse_seconds(optarg, &cfg->ticket_lifetime, TICKET_PERIOD) < 0 || cfg->ticket_lifetime == 0) {
				*err = "-S wants a number of seconds from 1 to 21600";
				return OPTIONS_USAGE;
			}
			break;
		case 'q': cfg->verbosity = 0; break;
		case 'v': cfg->verbosity = 2; break;
		case 'h': return OPTIONS_HELP;
		case 'V': return OPTIONS_VERSION;
		case 'l':
			if (parse_facility(optarg, &cfg->syslog_facility) < 0) {
				*err = "-l wants a syslog facility: mail, daemon, user, auth, authpriv, news, uucp, local0 to local7";
				return OPTIONS_USAGE;
			}
			break;
		case 'T':
			if (parse_seconds(optarg, &cfg->handshake_timeout, 86400) < 0 || cfg->handshake_timeout == 0) {
				*err = "-T wants a number of seconds from 1 to 86400";
				return OPTIONS_USAGE;
			}
			break;
		case 't':
			if (parse_seconds(optarg, &cfg->idle_timeout, 86400) < 0) {
				*err = "-t wants a number of seconds from 0 to 86400";
				return OPTIONS_USAGE;
			}
			break;
		default:
			/* a long option is still argv[optind]: its group of flags is unfinished */
			*err = unknown_or_missing(optopt, optind < argc ? argv[optind] : NULL);
			return OPTIONS_USAGE;
		}
	}
	if (optind >= argc) {
		*err = "no program to run";
		return OPTIONS_USAGE;
	}
	cfg->app_argv = argv + optind;
	*err = apply_environment(cfg, getenv_fn);
	if (!*err)
		*err = check_combinations(cfg);
	return *err ? OPTIONS_USAGE : OPTIONS_OK;
}
