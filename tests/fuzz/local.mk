# libFuzzer harnesses (tests/fuzz/README), built with FUZZ_CC: clang, when
# configure found that it links -fsanitize=fuzzer.  Each harness compiles the
# sources it tests itself, instrumented; tests/fuzz/run.sh runs them, for
# about a minute in all under "make check", longer under "make fuzz".
FUZZ_HARNESSES = tests/fuzz/fuzz-signreq tests/fuzz/fuzz-ucspienv tests/fuzz/fuzz-options \
	tests/fuzz/fuzz-engine-immediate tests/fuzz/fuzz-engine-starttls
FUZZ_BUILD = $(AM_V_CCLD)$(MKDIR_P) tests/fuzz && $(FUZZ_CC) -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(WARN_CFLAGS) \
	$(AM_CPPFLAGS) -I$(top_builddir) -I$(srcdir)/src $(GNUTLS_CFLAGS) -o $@
# The engine with everything it calls, but not the sandbox (the harness
# has stubs that abort); _exit comes back to the harness.
FUZZ_ENGINE_FILES = $(srcdir)/tests/fuzz/fuzz-engine.c $(srcdir)/src/engine.c $(srcdir)/src/relay.c \
	$(srcdir)/src/session.c $(srcdir)/src/certstore.c $(srcdir)/src/tickets.c $(srcdir)/src/fds.c \
	$(srcdir)/src/log.c $(srcdir)/src/signreq.c $(srcdir)/src/ucspienv.c $(srcdir)/src/options.c
FUZZ_ENGINE_LIBS = -Wl,--wrap=_exit $(GNUTLS_LIBS) -lpthread

tests/fuzz/fuzz-signreq: $(srcdir)/tests/fuzz/fuzz-signreq.c $(srcdir)/src/signreq.c
	$(FUZZ_BUILD) $(srcdir)/tests/fuzz/fuzz-signreq.c $(srcdir)/src/signreq.c $(GNUTLS_LIBS)
tests/fuzz/fuzz-ucspienv: $(srcdir)/tests/fuzz/fuzz-ucspienv.c $(srcdir)/src/ucspienv.c
	$(FUZZ_BUILD) $(srcdir)/tests/fuzz/fuzz-ucspienv.c $(srcdir)/src/ucspienv.c
tests/fuzz/fuzz-options: $(srcdir)/tests/fuzz/fuzz-options.c $(srcdir)/src/options.c
	$(FUZZ_BUILD) $(srcdir)/tests/fuzz/fuzz-options.c $(srcdir)/src/options.c
tests/fuzz/fuzz-engine-immediate: $(FUZZ_ENGINE_FILES)
	$(FUZZ_BUILD) $(FUZZ_ENGINE_FILES) $(FUZZ_ENGINE_LIBS)
tests/fuzz/fuzz-engine-starttls: $(FUZZ_ENGINE_FILES)
	$(FUZZ_BUILD) -DFUZZ_STARTTLS $(FUZZ_ENGINE_FILES) $(FUZZ_ENGINE_LIBS)

TESTS += tests/fuzz/run.sh
EXTRA_DIST += tests/fuzz/README tests/fuzz/run.sh tests/fuzz/capture-hello.py \
	tests/fuzz/fuzz-signreq.c tests/fuzz/fuzz-ucspienv.c tests/fuzz/fuzz-options.c \
	tests/fuzz/fuzz-engine.c tests/fuzz/corpus tests/fuzz/regressions
CLEANFILES += $(FUZZ_HARNESSES)
clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/work tests/fuzz/artifacts

# make fuzz: each harness for FUZZ_SECONDS (default five minutes), from
# the command line or the environment; not a make variable, which would
# also override the environment's value for make check.
if FUZZ
check_SCRIPTS += $(FUZZ_HARNESSES)
fuzz: $(FUZZ_HARNESSES)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-300} top_builddir='$(abs_top_builddir)' $(SHELL) $(srcdir)/tests/fuzz/run.sh
else
fuzz:
	@echo "make fuzz: configure found no clang that links -fsanitize=fuzzer (Debian: clang libclang-rt-14-dev)" >&2; exit 1
endif
.PHONY: fuzz clean-fuzz
