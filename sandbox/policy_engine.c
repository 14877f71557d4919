/* The engine's seccomp allowlist, on top of policy.c's common one.
 * Everything that opens files or sockets is done before this is loaded
 * (engine.c); one line per entry says who needs it. */
#include "config.h"

#include "policy.h"

static const struct allow engine_allow[] = {
	{ SCMP_SYS(poll),  "relay loop and handshake waits" },
	{ SCMP_SYS(close), "closing a pipe when its direction ends" },
};

/* Allowed only on the engine's own descriptors (not even 0-2, which are
 * /dev/null in the engine).  read and write come first: see below. */
static const struct allow engine_fd_calls[] = {
	{ SCMP_SYS(read),     "the socket (GnuTLS pull, plaintext phase), the application's pipes, ctl" },
	{ SCMP_SYS(write),    "the socket (plaintext phase), pipes to the application, the Y reply" },
	{ SCMP_SYS(writev),   "GnuTLS push of records (relay.c transport_push)" },
	{ SCMP_SYS(sendto),   "key channel requests, log lines (send)" },
	{ SCMP_SYS(recvfrom), "key channel replies (recv)" },
	{ SCMP_SYS(shutdown), "FIN to the client after close_notify" },
};

const char *policy_engine_load(const int *fds, size_t nfds)
{
	scmp_filter_ctx ctx = policy_begin(engine_allow, POLICY_LEN(engine_allow));
	int ok = ctx != NULL;

	for (size_t i = 0; ok && i < nfds; i++)
		if (fds[i] >= 0)
			ok = policy_allow_on_fd(ctx, engine_fd_calls, POLICY_LEN(engine_fd_calls), fds[i]) == 0;
#ifdef UCSPI_TLSD_SANITIZERS
	/* test-only: the sanitizers read and write their reports on fd 2 */
	if (ok)
		ok = policy_allow_on_fd(ctx, engine_fd_calls, 2, 2) == 0;
#endif
	return policy_finish(ctx, ok);
}
