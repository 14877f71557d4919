# Check unit tests: one suite per pure module (src/signreq, src/ucspienv,
# src/options), linked against libpure.a; and check_keeper, the key
# keeper's real code against a hostile fake engine.
check_PROGRAMS += tests/unit/check_signreq tests/unit/check_ucspienv tests/unit/check_options
TESTS += tests/unit/check_signreq tests/unit/check_ucspienv tests/unit/check_options

tests_unit_check_signreq_SOURCES = tests/unit/check_signreq.c
tests_unit_check_signreq_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_unit_check_signreq_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_signreq_LDADD = libpure.a $(GNUTLS_LIBS) $(CHECK_LIBS)

tests_unit_check_ucspienv_SOURCES = tests/unit/check_ucspienv.c
tests_unit_check_ucspienv_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_unit_check_ucspienv_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_ucspienv_LDADD = libpure.a $(GNUTLS_LIBS) $(CHECK_LIBS)

tests_unit_check_options_SOURCES = tests/unit/check_options.c
tests_unit_check_options_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_unit_check_options_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_options_LDADD = libpure.a $(GNUTLS_LIBS) $(CHECK_LIBS)

# The TLS features' flags and ticket key derivation (src/tickets.c does file
# I/O, so it is linked here by itself rather than put in libpure.a).
check_PROGRAMS += tests/unit/check_features
TESTS += tests/unit/check_features
tests_unit_check_features_SOURCES = tests/unit/check_features.c src/tickets.c src/fds.c
tests_unit_check_features_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_unit_check_features_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_features_LDADD = libpure.a $(GNUTLS_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/check_keeper
TESTS += tests/unit/check_keeper
tests_unit_check_keeper_SOURCES = tests/unit/check_keeper.c src/keeper.c src/fds.c
tests_unit_check_keeper_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_unit_check_keeper_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_keeper_LDADD = libpure.a libsandbox.a $(GNUTLS_LIBS) $(SECCOMP_LIBS) $(CHECK_LIBS)
