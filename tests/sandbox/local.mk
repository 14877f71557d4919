# The jail and the seccomp policies (issue 3): the policies kill what they
# do not list (check_policy), and a live session's processes are confined
# (jail.py: /proc, strace, rlimits).
check_PROGRAMS += tests/sandbox/check_policy
TESTS += tests/sandbox/check_policy

tests_sandbox_check_policy_SOURCES = tests/sandbox/check_policy.c
tests_sandbox_check_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sandbox
tests_sandbox_check_policy_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_sandbox_check_policy_LDADD = libsandbox.a $(SECCOMP_LIBS) $(CHECK_LIBS)

TESTS += tests/sandbox/jail.py
EXTRA_DIST += tests/sandbox/jail.py

TESTS += tests/sandbox/attack.py tests/sandbox/attack_tickets.py tests/sandbox/attack_syslog.py
EXTRA_DIST += tests/sandbox/attack.py tests/sandbox/attack_tickets.py tests/sandbox/attack_syslog.py
