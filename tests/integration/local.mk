# Integration tests: real xinetd, real clients (gnutls-cli, openssl s_client,
# swaks, Python), Debian's mailfront as the UCSPI-TLS application.
TESTS += \
	tests/integration/mailfront-plain.sh \
	tests/integration/clients-selftest.sh \
	tests/integration/run-matrix.sh \
	tests/integration/behaviour.sh \
	tests/integration/fd2-syslog.sh \
	tests/integration/compat-logging.sh \
	tests/integration/superservers.sh \
	tests/integration/features.sh \
	tests/integration/readme.sh \
	tests/integration/certkey.sh \
	tests/integration/fallback-mailfront.sh \
	tests/integration/cases.sh \
	tests/integration/soak.sh
AM_TESTS_ENVIRONMENT = top_builddir='$(abs_top_builddir)'; export top_builddir;
EXTRA_DIST += \
	tests/integration/README \
	tests/integration/lib.sh \
	tests/integration/make-fixtures.sh \
	tests/integration/mailfront-plain.sh \
	tests/integration/clients-selftest.sh \
	tests/integration/run-matrix.sh \
	tests/integration/behaviour.sh \
	tests/integration/behaviour.py \
	tests/integration/fd2-syslog.sh \
	tests/integration/compat-logging.sh \
	tests/integration/compat_logging.py \
	tests/integration/superservers.sh \
	tests/integration/features.sh \
	tests/integration/features.py \
	tests/integration/certkey.sh \
	tests/integration/certkey.py \
	tests/integration/fallback-mailfront.sh \
	tests/integration/make-feature-fixtures.sh \
	tests/integration/readme.sh \
	tests/integration/syslog-catcher.py \
	tests/integration/notls-stub.sh \
	tests/integration/fake-ucspi-tlsd.py \
	tests/integration/fakeapps/immediate.sh \
	tests/integration/fakeapps/killself.sh \
	tests/integration/fakeapps/ucspitls.py \
	tests/integration/fakeapps/misbehave.py \
	tests/integration/cases.sh \
	tests/integration/cases.py \
	tests/integration/soak.sh \
	tests/integration/soak.py \
	tests/integration/clients/smtpchat.py \
	tests/integration/clients/gnutls-cli.py \
	tests/integration/clients/openssl.py \
	tests/integration/clients/swaks.py \
	tests/integration/clients/python-smtplib.py \
	tests/integration/clients/coalesce.py \
	tests/integration/clients/eager-starttls.py

# The soak at full size (2000 sessions, 100 swaks in a row) and the larger
# runs of C02b (1000 back-to-back switches) and C04d (200 parallel resets).
soak: all
	top_builddir='$(abs_top_builddir)' SOAK_SESSIONS=2000 SOAK_SWAKS=100 \
		$(SHELL) $(srcdir)/tests/integration/soak.sh
	top_builddir='$(abs_top_builddir)' C02_SESSIONS=1000 C04_PARALLEL=200 \
		$(SHELL) $(srcdir)/tests/integration/cases.sh C02.test_b_back_to_back C04.test_d_parallel_resets
.PHONY: soak
