/* loadgen: SMTP sessions against a server on this machine, with a GnuTLS
 * client, for `make bench`.
 *
 *   loadgen [-m plain|starttls|tls] [-n sessions] [-c concurrency]
 *           [-d bytes] [-p priority] [-t secs] [-H] host port
 *
 * Each session: connect, (tls: handshake), 220, EHLO, (starttls: STARTTLS,
 * 220, handshake, EHLO), with -d a MAIL/RCPT/DATA of that many bytes whose
 * 250 must count them (tinysmtp's "250 ok N bytes"), QUIT, 221, then the
 * server's close.  The client verifies no certificate and keeps no session
 * for resumption: every handshake is a full one.
 *
 * Prints one line: sessions, failures, seconds, sessions/s, p50/p99 latency
 * (connect to 221), DATA MB/s, and the first session's protocol and cipher.
 * With -H (memory measurements) all sessions are opened at once and held
 * after the last EHLO: "holding N" is printed, and they finish when
 * standard input reaches EOF.
 *
 * Exit 0 when every session succeeded, 1 when one failed, 100 usage. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>

enum mode { PLAIN, STARTTLS, IMMEDIATE };

static struct {
	enum mode mode;
	unsigned sessions, concurrency, timeout;
	unsigned long long data_bytes;
	const char *priority, *host, *port;
	bool hold;
} opt = { STARTTLS, 100, 4, 30, 0, "NORMAL:-GROUP-ALL:+GROUP-X25519", NULL, NULL, false };

static struct addrinfo *server;
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio;
static double *latency_ms; /* per session; < 0 for a failed one */
static unsigned next_session;
static pthread_barrier_t held, released;
static char first_proto[32] = "-", first_cipher[64] = "-";
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;

/* 80-byte lines, 819 of them: the DATA body is sent in blocks of this. */
#define BODY_LINE 80
#define BODY_BLOCK (819 * BODY_LINE)
static char body[BODY_BLOCK];

struct link {
	int fd;
	gnutls_session_t tls; /* NULL before TLS */
	char buf[16384];
	size_t off, len;
	const char *err; /* what went wrong, for the first failure's message */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(struct link *l, const char *why)
{
	if (!l->err)
		l->err = why;
	return -1;
}

static ssize_t link_recv(struct link *l, void *p, size_t n)
{
	ssize_t k;

	if (!l->tls) {
		do
			k = recv(l->fd, p, n, 0);
		while (k < 0 && errno == EINTR);
		return k;
	}
	/* AGAIN also follows a post-handshake message (TLS 1.3 tickets); a
	 * receive timeout (SO_RCVTIMEO) is AGAIN too, told apart by the clock */
	double give_up = now_ms() + opt.timeout * 1e3;
	do
		k = gnutls_record_recv(l->tls, p, n);
	while (k == GNUTLS_E_INTERRUPTED || (k == GNUTLS_E_AGAIN && now_ms() < give_up));
	if (k == GNUTLS_E_PREMATURE_TERMINATION) /* a close without close_notify is a close */
		return 0;
	return k < 0 ? -1 : k;
}

static int link_send(struct link *l, const char *p, size_t n)
{
	while (n) {
		ssize_t k = l->tls ? gnutls_record_send(l->tls, p, n) : send(l->fd, p, n, MSG_NOSIGNAL);
		if (k == GNUTLS_E_INTERRUPTED || (k < 0 && !l->tls && errno == EINTR))
			continue;
		if (k <= 0)
			return fail(l, "send failed");
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One reply line (CRLF removed) into line; -1 at EOF or error. */
static int read_line(struct link *l, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(l->buf + l->off, '\n', l->len - l->off);
		if (nl) {
			size_t n = (size_t)(nl - (l->buf + l->off));
			size_t keep = n && nl[-1] == '\r' ? n - 1 : n;
			if (keep >= max)
				keep = max - 1;
			memcpy(line, l->buf + l->off, keep);
			line[keep] = '\0';
			l->off += n + 1;
			return 0;
		}
		if (l->off) {
			memmove(l->buf, l->buf + l->off, l->len - l->off);
			l->len -= l->off;
			l->off = 0;
		}
		if (l->len == sizeof l->buf)
			return fail(l, "reply line too long");
		ssize_t k = link_recv(l, l->buf + l->len, sizeof l->buf - l->len);
		if (k <= 0)
			return fail(l, k == 0 ? "server closed early" : "receive failed or timed out");
		l->len += (size_t)k;
	}
}

/* A whole (multi-line) reply whose code must be code; its last line in last. */
static int expect(struct link *l, const char *code, char *last, size_t max)
{
	do {
		if (read_line(l, last, max) < 0)
			return -1;
		if (strncmp(last, code, 3) != 0)
			return fail(l, "unexpected reply code");
	} while (last[3] == '-');
	return 0;
}

static int command(struct link *l, const char *cmd, const char *code)
{
	char line[512];

	return link_send(l, cmd, strlen(cmd)) < 0 ? -1 : expect(l, code, line, sizeof line);
}

static void note_first(gnutls_session_t s)
{
	pthread_mutex_lock(&first_lock);
	if (strcmp(first_proto, "-") == 0) {
		const char *suite = gnutls_ciphersuite_get(s);
		snprintf(first_proto, sizeof first_proto, "%s", gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
		snprintf(first_cipher, sizeof first_cipher, "%s", suite ? suite : "-");
	}
	pthread_mutex_unlock(&first_lock);
}

static int start_tls(struct link *l)
{
	int ret;

	if (l->off != l->len)
		return fail(l, "bytes after the 220 before TLS");
	if (gnutls_init(&l->tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0 || gnutls_priority_set(l->tls, prio) < 0 ||
	    gnutls_credentials_set(l->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		return fail(l, "gnutls_init failed");
	gnutls_transport_set_int(l->tls, l->fd);
	do
		ret = gnutls_handshake(l->tls);
	while (ret == GNUTLS_E_INTERRUPTED || (ret < 0 && !gnutls_error_is_fatal(ret) && ret != GNUTLS_E_AGAIN));
	if (ret < 0)
		return fail(l, ret == GNUTLS_E_AGAIN ? "handshake timed out" : gnutls_strerror(ret));
	note_first(l->tls);
	return 0;
}

static int connect_server(struct link *l)
{
	struct timeval tv = { (time_t)opt.timeout, 0 };
	int one = 1;

	l->fd = socket(server->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return fail(l, "socket failed");
	setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(l->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(l->fd, server->ai_addr, server->ai_addrlen) < 0)
		return fail(l, "connect failed");
	return 0;
}

/* Up to the EHLO that the mail transaction follows. */
static int session_open(struct link *l)
{
	char line[512];

	if (connect_server(l) < 0)
		return -1;
	if (opt.mode == IMMEDIATE && start_tls(l) < 0)
		return -1;
	if (expect(l, "220", line, sizeof line) < 0 || command(l, "EHLO loadgen\r\n", "250") < 0)
		return -1;
	if (opt.mode != STARTTLS)
		return 0;
	if (command(l, "STARTTLS\r\n", "220") < 0 || start_tls(l) < 0)
		return -1;
	return command(l, "EHLO loadgen\r\n", "250");
}

static int send_message(struct link *l)
{
	unsigned long long lines = (opt.data_bytes + BODY_LINE - 1) / BODY_LINE, size = lines * BODY_LINE, left = size;
	char line[512], expected[64];

	if (command(l, "MAIL FROM:<bench@loadgen>\r\n", "250") < 0 || command(l, "RCPT TO:<sink@tinysmtp>\r\n", "250") < 0 ||
	    command(l, "DATA\r\n", "354") < 0)
		return -1;
	while (left) {
		size_t n = left < sizeof body ? (size_t)left : sizeof body;
		if (link_send(l, body, n) < 0)
			return -1;
		left -= n;
	}
	if (link_send(l, ".\r\n", 3) < 0 || expect(l, "250", line, sizeof line) < 0)
		return -1;
	/* tlswrapper-smtp adds " [session id]" to each reply */
	int n = snprintf(expected, sizeof expected, "250 ok %llu bytes", size);
	return strncmp(line, expected, (size_t)n) == 0 && (line[n] == '\0' || line[n] == ' ')
	               ? 0 : fail(l, "the server counted other DATA bytes than were sent");
}

/* QUIT, 221, then the server's close (EOF or close_notify). */
static int session_close(struct link *l, double start, double *ms)
{
	char sink[512];

	if (opt.data_bytes && send_message(l) < 0)
		return -1;
	if (command(l, "QUIT\r\n", "221") < 0)
		return -1;
	*ms = now_ms() - start;
	if (l->off != l->len || link_recv(l, sink, sizeof sink) != 0)
		return fail(l, "no clean close after 221");
	return 0;
}

static void link_free(struct link *l)
{
	if (l->tls)
		gnutls_deinit(l->tls);
	if (l->fd >= 0)
		close(l->fd);
}

static const char *first_error;

static void one_session(unsigned i)
{
	struct link *l = calloc(1, sizeof *l);
	double start = now_ms(), ms = -1;
	int ok;

	if (!l)
		abort();
	l->fd = -1;
	ok = session_open(l) == 0;
	if (opt.hold) {
		pthread_barrier_wait(&held);
		pthread_barrier_wait(&released);
	}
	if (ok && session_close(l, start, &ms) < 0)
		ok = 0;
	latency_ms[i] = ok ? ms : -1;
	if (!ok)
		__atomic_compare_exchange_n(&first_error, &(const char *){ NULL }, l->err, false, __ATOMIC_SEQ_CST,
		                            __ATOMIC_SEQ_CST);
	link_free(l);
	free(l);
}

static void *worker(void *arg)
{
	unsigned i;

	(void)arg;
	while ((i = __atomic_fetch_add(&next_session, 1, __ATOMIC_SEQ_CST)) < opt.sessions)
		one_session(i);
	return NULL;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Percentile of the sorted successful latencies. */
static double percentile(const double *v, unsigned n, double p)
{
	unsigned i = (unsigned)(p * (n - 1) + 0.5);
	return n ? v[i] : 0;
}

/* Prints the result line; returns the number of failed sessions. */
static unsigned report(double secs)
{
	static const char *const names[] = { "plain", "starttls", "tls" };
	unsigned ok = 0;

	for (unsigned i = 0; i < opt.sessions; i++)
		if (latency_ms[i] >= 0)
			latency_ms[ok++] = latency_ms[i];
	qsort(latency_ms, ok, sizeof *latency_ms, by_value);
	printf("mode=%s sessions=%u failures=%u secs=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f mbps=%.1f proto=%s cipher=%s\n",
	       names[opt.mode], opt.sessions, opt.sessions - ok, secs, ok / secs, percentile(latency_ms, ok, 0.5),
	       percentile(latency_ms, ok, 0.99), (double)ok * (double)((opt.data_bytes + BODY_LINE - 1) / BODY_LINE * BODY_LINE) / secs / 1e6,
	       first_proto, first_cipher);
	if (first_error)
		fprintf(stderr, "loadgen: first failure: %s\n", first_error);
	return opt.sessions - ok;
}

static void usage(const char *why)
{
	fprintf(stderr, "loadgen: %s\nusage: loadgen [-m plain|starttls|tls] [-n sessions] [-c concurrency] [-d bytes] "
	        "[-p priority] [-t secs] [-H] host port\n", why);
	exit(100);
}

static unsigned long long number(const char *s, const char *flag)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s < '0' || *s > '9' || *end)
		usage(flag);
	return v;
}

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "m:n:c:d:p:t:H")) != -1) {
		switch (c) {
		case 'm':
			opt.mode = strcmp(optarg, "plain") == 0 ? PLAIN : strcmp(optarg, "tls") == 0 ? IMMEDIATE
			           : strcmp(optarg, "starttls") == 0 ? STARTTLS : (usage("-m: plain, starttls or tls"), PLAIN);
			break;
		case 'n': opt.sessions = (unsigned)number(optarg, "-n: a number of sessions"); break;
		case 'c': opt.concurrency = (unsigned)number(optarg, "-c: a number of parallel sessions"); break;
		case 'd': opt.data_bytes = number(optarg, "-d: a number of bytes"); break;
		case 'p': opt.priority = optarg; break;
		case 't': opt.timeout = (unsigned)number(optarg, "-t: seconds"); break;
		case 'H': opt.hold = true; break;
		default: usage("unknown option");
		}
	}
	if (argc - optind != 2)
		usage("needs host and port");
	if (opt.sessions == 0 || opt.concurrency == 0 || opt.concurrency > 1000 || opt.timeout == 0)
		usage("-n, -c and -t must be at least 1 (and -c at most 1000)");
	if (opt.hold)
		opt.concurrency = opt.sessions;
	if (opt.concurrency > opt.sessions)
		opt.concurrency = opt.sessions;
	opt.host = argv[optind];
	opt.port = argv[optind + 1];
}

static void set_up(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	const char *where;
	int ret = getaddrinfo(opt.host, opt.port, &hints, &server);

	if (ret != 0) {
		fprintf(stderr, "loadgen: %s port %s: %s\n", opt.host, opt.port, gai_strerror(ret));
		exit(100);
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0 || gnutls_priority_init(&prio, opt.priority, &where) < 0) {
		fprintf(stderr, "loadgen: -p: bad priority string at '%s'\n", where ? where : "");
		exit(100);
	}
	latency_ms = calloc(opt.sessions, sizeof *latency_ms);
	if (!latency_ms)
		abort();
	for (size_t i = 0; i < sizeof body; i += BODY_LINE) {
		memset(body + i, 'x', BODY_LINE - 2);
		memcpy(body + i + BODY_LINE - 2, "\r\n", 2);
	}
	if (opt.hold && (pthread_barrier_init(&held, NULL, opt.sessions + 1) != 0 ||
	                 pthread_barrier_init(&released, NULL, opt.sessions + 1) != 0))
		abort();
}

/* -H: wait until every session is open, say so, hold until stdin ends. */
static void hold_sessions(void)
{
	char c;

	pthread_barrier_wait(&held);
	printf("holding %u\n", opt.sessions);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	pthread_barrier_wait(&released);
}

int main(int argc, char **argv)
{
	pthread_t *threads;
	double start;
	unsigned failures;

	parse_args(argc, argv);
	set_up();
	threads = calloc(opt.concurrency, sizeof *threads);
	if (!threads)
		abort();
	start = now_ms();
	for (unsigned i = 0; i < opt.concurrency; i++)
		if (pthread_create(&threads[i], NULL, worker, NULL) != 0)
			abort();
	if (opt.hold)
		hold_sessions();
	for (unsigned i = 0; i < opt.concurrency; i++)
		pthread_join(threads[i], NULL);
	failures = report((now_ms() - start) / 1e3);
	free(threads);
	free(latency_ms);
	freeaddrinfo(server);
	gnutls_priority_deinit(prio);
	gnutls_certificate_free_credentials(cred);
	return failures ? 1 : 0;
}
