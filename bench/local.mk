# Benchmarks (issue 6): `make bench` compares ucspi-tlsd with a no-TLS
# baseline, tlswrapper and stunnel on loopback.  The load generator and the
# tiny SMTP application are built for `make check` too (a smoke test without
# timing: tests/integration/bench-smoke.sh), and never installed.
check_PROGRAMS += bench/loadgen bench/tinysmtp
bench_loadgen_SOURCES = bench/loadgen.c
bench_loadgen_CFLAGS = $(AM_CFLAGS) -pthread
bench_loadgen_LDADD = $(GNUTLS_LIBS)
bench_tinysmtp_SOURCES = bench/tinysmtp.c

EXTRA_DIST += bench/run.sh

bench: ucspi-tlsd$(EXEEXT) bench/loadgen$(EXEEXT) bench/tinysmtp$(EXEEXT)
	top_builddir='$(abs_top_builddir)' sh '$(srcdir)/bench/run.sh'
.PHONY: bench

TESTS += tests/integration/bench-smoke.sh
EXTRA_DIST += tests/integration/bench-smoke.sh
