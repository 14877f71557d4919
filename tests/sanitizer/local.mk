# The sanitizer build's seccomp allowances are in that build only: the
# normal build's policies kill those calls (check_san_policy).
check_PROGRAMS += tests/sanitizer/check_san_policy
TESTS += tests/sanitizer/check_san_policy

tests_sanitizer_check_san_policy_SOURCES = tests/sanitizer/check_san_policy.c
tests_sanitizer_check_san_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sandbox
tests_sanitizer_check_san_policy_LDADD = libsandbox.a $(SECCOMP_LIBS)
