/* The parent's seccomp allowlist, loaded once the key is read and the
 * privileges are dropped (keeper.c).  From then on the parent answers the
 * engine, logs, kills the engine when it misbehaves, reaps both children
 * and exits: no file, no socket, no exec, no ptrace.  On top of policy.c's
 * common list. */
#include "config.h"

#include <signal.h>

#include "policy.h"

static const struct allow parent_allow[] = {
	{ SCMP_SYS(recvfrom), "requests from the engine (recv on the key channel)" },
	{ SCMP_SYS(sendto),   "replies to the engine; log lines to the syslog socket connected at start-up" },
	{ SCMP_SYS(write),    "log lines on fd 2 when it is not the network" },
	{ SCMP_SYS(poll),     "waiting for the engine with a deadline" },
	{ SCMP_SYS(wait4),    "reaping the engine and the application (waitpid)" },
	{ SCMP_SYS(close),    "closing the key channel" },
	{ SCMP_SYS(getpid),   "the pid in each log line" },
};

const char *policy_parent_load(pid_t engine)
{
	scmp_filter_ctx ctx = policy_begin(parent_allow, POLICY_LEN(parent_allow));
	/* CAP_KILL is kept only for this: SIGKILL to the engine, nothing else */
	int ok = ctx && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 2,
	                                 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)engine),
	                                 SCMP_A1(SCMP_CMP_EQ, SIGKILL)) == 0;

	return policy_finish(ctx, ok);
}
