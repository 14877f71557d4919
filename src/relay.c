/* The data pump and its shutdown rules (SPEC section 7). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"

/* After our close_notify and FIN, how long to keep reading for the peer's
 * EOF, so that closing with unread input does not reset the connection and
 * destroy our last reply in flight. */
#define LINGER_MS 3000
/* One TLS record's worth of plaintext. */
#define RECORD_MAX 16384

enum io { IO_AGAIN = -1, IO_ERROR = -2 };

void relay_nonblock(int fd)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A pipe holds 64 KiB by default: four records, so bulk data costs the
 * engine and the application a wake-up each every four records.  The kernel
 * takes the pages only while data waits in them, so an idle connection
 * costs no more. */
#define APP_PIPE_SIZE (1 << 20)

void relay_widen_pipe(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETPIPE_SZ, APP_PIPE_SIZE); /* best effort: not a pipe, or a limit, leaves it as it is */
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int relay_wait(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

int relay_watch_exit(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

void relay_init(struct relay *r, int net_in, int net_out, int to_app, int from_app, int ctl)
{
	r->tls = NULL;
	r->net_in = net_in;
	r->net_out = net_out;
	r->to_app = to_app;
	r->from_app = from_app;
	r->ctl = ctl;
	r->app_stdin = r->app_exit = -1;
	r->app_gone = false;
	r->down.off = r->down.len = 0;
	r->up.off = r->up.len = 0;
	r->send_pending = 0;
	r->refused_hellos = 0;
	r->net_eof = r->net_shut = r->holding = r->peer_eof = false;
	r->last_byte = '\n';
	r->held_len = r->held_off = 0;
	r->bytes_in = r->bytes_out = r->raw_in = 0;
	r->command = -1;
	r->reason = NULL;
	relay_nonblock(net_in);
	relay_nonblock(net_out);
	relay_nonblock(to_app);
	relay_nonblock(from_app);
	relay_nonblock(ctl);
	relay_widen_pipe(to_app);
	relay_widen_pipe(from_app);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- GnuTLS transport: read/write so that pipes work too (C06) ---- */

/* GnuTLS reads errno after a failed pull or push.  Once TLS is up, a bare
 * EOF (a client that half-closes without close_notify) is kept from GnuTLS,
 * which would invalidate the session and refuse to send the application's
 * last reply: the relay sees it as peer_eof instead. */
static ssize_t transport_pull(gnutls_transport_ptr_t p, void *data, size_t n)
{
	struct relay *r = p;
	ssize_t k;

	if (r->tls && r->held_off == r->held_len) { /* TLS up: read ahead, not a header at a time */
		k = read(r->net_in, r->held, sizeof r->held);
		if (k == 0) {
			r->peer_eof = true;
			errno = EAGAIN;
		}
		if (k <= 0)
			return -1;
		r->raw_in += (unsigned long long)k;
		r->held_off = 0;
		r->held_len = (size_t)k;
	}
	if (r->held_off < r->held_len) {
		k = (ssize_t)(r->held_len - r->held_off);
		if ((size_t)k > n)
			k = (ssize_t)n;
		memcpy(data, r->held + r->held_off, (size_t)k);
		r->held_off += (size_t)k;
		return k;
	}
	k = read(r->net_in, data, n); /* the handshake: what it asks for */
	if (k > 0)
		r->raw_in += (unsigned long long)k;
	return k;
}

static ssize_t transport_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct relay *r = p;

	return writev(r->net_out, (const struct iovec *)iov, n);
}

void relay_set_transport(struct relay *r, gnutls_session_t s)
{
	gnutls_transport_set_ptr(s, r);
	gnutls_transport_set_pull_function(s, transport_pull);
	gnutls_transport_set_vec_push_function(s, transport_push);
}

/* ---- the network side: raw in the plaintext phase, records after ---- */

/* Plaintext phase: a line that begins like a TLS handshake record (0x16,
 * 0x03, a minor version up to 4) is a client starting TLS before the engine
 * has seen the application's command byte (C02).  While the application may
 * still ask for TLS (the control socket is open), keep those bytes for the
 * handshake and stop reading.  Returns how many bytes to pass on. */
static bool looks_like_record(const unsigned char *p, size_t n)
{
	return p[0] == 0x16 && (n < 2 || p[1] == 0x03) && (n < 3 || p[2] <= 0x04);
}

static size_t hold_tls_record(struct relay *r, const unsigned char *p, size_t n)
{
	for (size_t i = 0; r->ctl >= 0 && i < n; i++) {
		unsigned char prev = i ? p[i - 1] : r->last_byte;
		if (prev == '\n' && looks_like_record(p + i, n - i)) {
			memcpy(r->held, p + i, n - i);
			r->held_len = n - i;
			r->holding = true;
			r->hold_until = now_ms() + r->hold_ms;
			return i;
		}
	}
	if (n)
		r->last_byte = p[n - 1];
	return n;
}

/* The held bytes were not a handshake after all (the application declined,
 * or never asked within the handshake timeout, or the client closed): they
 * are the application's.  They fit: they came out of the down buffer's free
 * tail, which has not shrunk since. */
static void release_held(struct relay *r)
{
	size_t n = r->held_len - r->held_off;

	memcpy(r->down.data + r->down.off + r->down.len, r->held + r->held_off, n);
	r->down.len += n;
	r->bytes_in += n;
	r->last_byte = r->held[r->held_len - 1];
	r->held_len = r->held_off = 0;
	r->holding = false;
}

/* GnuTLS says "Error in the pull function" for a reset: say what errno says. */
static const char *tls_error_words(int err)
{
	bool reset = errno == ECONNRESET || errno == EPIPE;

	if (err == GNUTLS_E_PULL_ERROR || err == GNUTLS_E_PUSH_ERROR)
		return reset ? "connection reset by peer" : "network error";
	if (err == GNUTLS_E_PREMATURE_TERMINATION && reset) /* what a send says of a reset */
		return "connection reset by peer";
	return gnutls_strerror(err);
}

static ssize_t net_read(struct relay *r, unsigned char *p, size_t n)
{
	if (!r->tls) {
		ssize_t k = read(r->net_in, p, n < RELAY_HELDSIZE ? n : RELAY_HELDSIZE);
		if (k > 0)
			return (ssize_t)hold_tls_record(r, p, (size_t)k);
		if (k == 0)
			return 0;
		if (errno == EAGAIN || errno == EINTR)
			return IO_AGAIN;
		r->reason = errno == ECONNRESET ? "connection reset by peer" : "network read error";
		return IO_ERROR;
	}
	ssize_t k = gnutls_record_recv(r->tls, p, n);
	if (k >= 0)
		return k;
	switch (k) {
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		return r->peer_eof ? 0 : IO_AGAIN;
	case GNUTLS_E_PREMATURE_TERMINATION: /* EOF without close_notify */
		return 0;
	case GNUTLS_E_REHANDSHAKE: /* TLS 1.2 renegotiation: refused */
		gnutls_alert_send(r->tls, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
		r->refused_hellos++;
		return IO_AGAIN;
	case GNUTLS_E_UNEXPECTED_PACKET:
		/* GnuTLS keeps the refused ClientHello's record and hands it to
		 * the next read as an unexpected packet, dropping it: that is
		 * the refusal done, not an error (C13) */
		if (r->refused_hellos) {
			r->refused_hellos--;
			return IO_AGAIN;
		}
		/* fall through */
	default:
		if (!gnutls_error_is_fatal((int)k))
			return IO_AGAIN;
		r->reason = tls_error_words((int)k);
		return IO_ERROR;
	}
}

static ssize_t net_write(struct relay *r)
{
	size_t n = r->up.len < RECORD_MAX ? r->up.len : RECORD_MAX;
	ssize_t k;

	if (!r->tls) {
		k = write(r->net_out, r->up.data + r->up.off, n);
		if (k >= 0)
			return k;
		if (errno == EAGAIN || errno == EINTR)
			return IO_AGAIN;
		r->reason = errno == EPIPE || errno == ECONNRESET ? "connection reset by peer" : "network write error";
		return IO_ERROR;
	}
	if (r->send_pending)
		n = r->send_pending; /* GnuTLS wants the same call again */
	k = gnutls_record_send(r->tls, r->up.data + r->up.off, n);
	if (k >= 0) {
		r->send_pending = 0;
		return k;
	}
	if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED) {
		r->send_pending = n;
		return IO_AGAIN;
	}
	r->reason = tls_error_words((int)k);
	return IO_ERROR;
}

/* The application has closed its output and all of it is sent: close_notify,
 * then FIN.  Returns IO_AGAIN while GnuTLS still has to write. */
static int net_shutdown(struct relay *r)
{
	if (r->tls) {
		int ret = gnutls_bye(r->tls, GNUTLS_SHUT_WR);
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
			return IO_AGAIN;
	}
	if (shutdown(r->net_out, SHUT_WR) < 0 && errno == ENOTSOCK && r->net_out != r->net_in)
		close(r->net_out); /* a pipe: closing is the EOF */
	r->net_shut = true;
	return 0;
}

/* ---- the application side ---- */

static void buf_consumed(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

static size_t buf_space(const struct buf *b)
{
	return sizeof b->data - b->off - b->len;
}

static void app_write(struct relay *r)
{
	ssize_t k = write(r->to_app, r->down.data + r->down.off, r->down.len);

	if (k > 0) {
		buf_consumed(&r->down, (size_t)k);
	} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
		/* the application closed its input: what the peer sends now is lost */
		close_fd(&r->to_app);
		r->down.len = r->down.off = 0;
	}
}

static void app_read(struct relay *r)
{
	ssize_t k = read(r->from_app, r->up.data + r->up.off + r->up.len, buf_space(&r->up));

	if (k > 0) {
		r->up.len += (size_t)k;
		r->bytes_out += (unsigned long long)k;
	} else if (k == 0 || (errno != EINTR && (errno != EAGAIN || r->app_gone))) {
		close_fd(&r->from_app); /* once the application is gone, drained is the end */
	}
}

/* The application has exited.  All it wrote is in the pipe by now; a
 * process it left behind still holds copies of its descriptors, so no EOF
 * would come, but that process is not the connection (C04, C10). */
static void app_exited(struct relay *r)
{
	close_fd(&r->app_exit);
	r->app_gone = true;
	close_fd(&r->ctl); /* it will never ask for TLS */
	r->holding = false;
	r->held_len = r->held_off = 0;
}

/* Returns 0 to go on, or a relay_result. */
/* Read fd 0's pipe to its end (our write end is closed, so this never
 * blocks, and the application's copy keeps its flags). */
static long drain_app_stdin(struct relay *r)
{
	unsigned char sink[4096];
	long n = 0;
	ssize_t k;

	while ((k = read(r->app_stdin, sink, sizeof sink)) > 0 || (k < 0 && errno == EINTR))
		if (k > 0)
			n += k;
	close_fd(&r->app_stdin);
	return n;
}

static int ctl_read(struct relay *r)
{
	unsigned char c;
	ssize_t k = read(r->ctl, &c, 1);

	if (k < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : (close_fd(&r->ctl), 0);
	if (k == 0) { /* declined: go on relaying plaintext */
		close_fd(&r->ctl);
		close_fd(&r->app_stdin);
		if (r->holding)
			release_held(r);
		return 0;
	}
	r->command = c;
	if (c != 'y' && c != 'Y') {
		r->reason = "protocol error on the control descriptor (not y or Y)";
		return RELAY_ERROR;
	}
	return RELAY_COMMAND;
}

/* Read from the network into the down buffer (or discard it when the
 * application has closed its input). */
static int net_input(struct relay *r)
{
	unsigned char sink[RECORD_MAX];
	unsigned char *p = r->to_app >= 0 ? r->down.data + r->down.off + r->down.len : sink;
	size_t n = r->to_app >= 0 ? buf_space(&r->down) : sizeof sink;
	ssize_t k = net_read(r, p, n);

	if (k == IO_ERROR && r->net_shut) {
		/* all we had is sent: a reset now (a client that closed without
		 * reading our close_notify) ends nothing that matters */
		r->reason = NULL;
		k = 0;
	}
	if (k == IO_ERROR)
		return RELAY_ERROR;
	if (k == 0 && !r->holding) {
		r->net_eof = true;
	} else if (k > 0) {
		r->bytes_in += (unsigned long long)k;
		if (r->to_app >= 0)
			r->down.len += (size_t)k;
	}
	return 0;
}

static bool want_net_read(const struct relay *r)
{
	return !r->net_eof && !r->holding && (r->to_app < 0 || buf_space(&r->down) >= RECORD_MAX);
}

/* Closes that follow from the state: EOF passed on, shutdown when drained. */
static int settle(struct relay *r)
{
	if (r->app_gone && r->to_app >= 0) { /* nobody will read it now */
		close_fd(&r->to_app);
		r->down.len = r->down.off = 0;
	}
	if (r->net_eof && r->down.len == 0 && r->to_app >= 0)
		close_fd(&r->to_app);
	if (r->from_app < 0 && r->up.len == 0 && !r->send_pending && !r->net_shut)
		if (net_shutdown(r) == IO_AGAIN)
			return IO_AGAIN;
	return 0;
}

enum relay_result relay_run(struct relay *r)
{
	long long linger_until = 0;

	for (;;) {
		struct pollfd pf[6];
		int nfd = 0, i_net_in = -1, i_net_out = -1, i_from = -1, i_to = -1, i_ctl = -1, i_exit = -1;
		int timeout = r->idle_timeout ? (int)r->idle_timeout * 1000 : -1;
		bool bye_again = settle(r) == IO_AGAIN;

		if (r->net_shut && r->to_app < 0) {
			if (r->net_eof)
				return RELAY_DONE;
			if (!linger_until)
				linger_until = now_ms() + LINGER_MS;
			timeout = (int)(linger_until - now_ms());
			if (timeout <= 0)
				return RELAY_DONE;
		}
		if (r->app_gone && r->from_app >= 0 && r->up.len == 0) {
			app_read(r); /* no POLLIN wait: no EOF may ever come */
			continue;
		}
		/* bytes GnuTLS or the held prefix already has: poll would not see them */
		if (want_net_read(r) && r->tls &&
		    (gnutls_record_check_pending(r->tls) > 0 || r->held_off < r->held_len)) {
			if (net_input(r) == RELAY_ERROR)
				return RELAY_ERROR;
			if (r->down.len && r->to_app >= 0) /* each record on at once: the application works meanwhile */
				app_write(r);
			continue;
		}
		if (want_net_read(r)) {
			i_net_in = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->net_in, .events = POLLIN };
		} else if (r->holding) { /* not reading, but a FIN or reset ends the hold */
			i_net_in = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->net_in, .events = POLLRDHUP };
			int left = (int)(r->hold_until - now_ms());
			timeout = left < 0 ? 0 : (timeout < 0 || left < timeout) ? left : timeout;
		}
		if (r->up.len || r->send_pending || bye_again) {
			if (r->net_out == r->net_in && i_net_in >= 0) {
				pf[i_net_in].events |= POLLOUT;
				i_net_out = i_net_in;
			} else {
				i_net_out = nfd;
				pf[nfd++] = (struct pollfd){ .fd = r->net_out, .events = POLLOUT };
			}
		}
		if (r->from_app >= 0 && r->up.len == 0) {
			i_from = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->from_app, .events = POLLIN };
		}
		if (r->to_app >= 0) { /* POLLERR tells that the application closed its input */
			i_to = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->to_app, .events = r->down.len ? POLLOUT : 0 };
		}
		if (r->ctl >= 0) {
			i_ctl = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->ctl, .events = POLLIN };
		}
		if (r->app_exit >= 0) {
			i_exit = nfd;
			pf[nfd++] = (struct pollfd){ .fd = r->app_exit, .events = POLLIN };
		}
		if (nfd == 0)
			return RELAY_DONE;

		int n = poll(pf, (nfds_t)nfd, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->reason = "poll failed";
			return RELAY_ERROR;
		}
		if (n == 0 && r->holding && now_ms() >= r->hold_until) {
			release_held(r);
			continue;
		}
		if (n == 0) {
			if (linger_until)
				return RELAY_DONE;
			r->reason = "idle timeout";
			return RELAY_ERROR;
		}
		if (i_ctl >= 0 && pf[i_ctl].revents) { /* first: a command written before the exit counts */
			int res = ctl_read(r);
			if (res)
				return (enum relay_result)res;
		}
		if (i_exit >= 0 && pf[i_exit].revents) {
			app_exited(r);
			continue;
		}
		if (i_to >= 0 && pf[i_to].revents) {
			if (r->down.len)
				app_write(r);
			else
				close_fd(&r->to_app); /* POLLERR: the application closed its input */
		}
		if (i_from >= 0 && pf[i_from].revents)
			app_read(r);
		if (i_net_out >= 0 && (pf[i_net_out].revents & (POLLOUT | POLLERR | POLLHUP)) && r->up.len) {
			ssize_t k = net_write(r);
			if (k == IO_ERROR)
				return RELAY_ERROR;
			if (k > 0)
				buf_consumed(&r->up, (size_t)k);
		}
		if (i_net_in >= 0 && r->holding && (pf[i_net_in].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			release_held(r); /* the client closed or reset: it will not handshake (POLLOUT may share the entry) */
		else if (i_net_in >= 0 && (pf[i_net_in].revents & (POLLIN | POLLERR | POLLHUP)))
			if (net_input(r) == RELAY_ERROR)
				return RELAY_ERROR;
	}
}

/* Write the whole up buffer to the network, waiting at most ms per wait. */
static int flush_plain(struct relay *r, int ms)
{
	while (r->up.len) {
		ssize_t k = net_write(r);
		if (k == IO_ERROR)
			return -1;
		if (k > 0)
			buf_consumed(&r->up, (size_t)k);
		else if (relay_wait(r->net_out, POLLOUT, ms) < 0)
			return -1;
	}
	return 0;
}

long relay_switch_to_tls(struct relay *r)
{
	/* The application wrote its 220 before the command byte, so all of it
	 * is in the pipe now; more than two buffers' worth is not a reply. */
	size_t budget = 2 * RELAY_BUFSIZE;
	long discarded = (long)r->down.len;

	for (;;) {
		if (flush_plain(r, 10000) < 0)
			return -1;
		if (r->from_app < 0)
			break;
		ssize_t k = read(r->from_app, r->up.data, sizeof r->up.data);
		if (k <= 0)
			break;
		if ((size_t)k > budget) {
			r->reason = "application keeps writing plaintext after asking for TLS";
			return -1;
		}
		budget -= (size_t)k;
		r->up.off = 0;
		r->up.len = (size_t)k;
		r->bytes_out += (unsigned long long)k;
	}
	r->down.len = r->down.off = 0;
	r->holding = false; /* the held bytes are the handshake's now */
	close_fd(&r->to_app);
	close_fd(&r->from_app);
	if (r->app_stdin >= 0)
		discarded += drain_app_stdin(r);
	return discarded;
}
