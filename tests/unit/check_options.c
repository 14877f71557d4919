/* Unit tests for src/options.c: flags, the compatible environment variables,
 * usage errors.  The environment is a small table (fake_getenv). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "options.h"

/* ---- the fake environment ---- */

static struct { const char *name, *value; } env[8];

static void env_set(const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		if (!env[i].name || strcmp(env[i].name, name) == 0) {
			env[i].name = name;
			env[i].value = value;
			return;
		}
	ck_abort_msg("fake environment full");
}

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < sizeof env / sizeof env[0] && env[i].name; i++)
		if (strcmp(env[i].name, name) == 0)
			return env[i].value;
	return NULL;
}

static void env_clear(void)
{
	memset(env, 0, sizeof env);
}

static struct config cfg;
static const char *err;

/* Parse ucspi-tlsd's arguments given as a NULL-terminated list.  They are
 * copied to static storage, so cfg.app_argv stays valid after the call
 * (a compound literal would die with the assertion macro's block). */
#define PARSE(...) parse_argv((char *[]){ "ucspi-tlsd", __VA_ARGS__, NULL })

static char *argv_store[32];

static enum options_result parse_argv(char **argv)
{
	int argc = 0;
	while (argv[argc]) {
		ck_assert_int_lt(argc, (int)(sizeof argv_store / sizeof argv_store[0]) - 1);
		argv_store[argc] = argv[argc];
		argc++;
	}
	argv_store[argc] = NULL;
	return options_parse(&cfg, argc, argv_store, fake_getenv, &err);
}

#define ck_assert_usage(expr) do { \
		ck_assert_int_eq((expr), OPTIONS_USAGE); \
		ck_assert_ptr_nonnull(err); \
		ck_assert_uint_gt(strlen(err), 0); \
	} while (0)

#define ck_assert_ok(expr) do { \
		enum options_result r_ = (expr); \
		ck_assert_msg(r_ == OPTIONS_OK, "result %d, err \"%s\"", (int)r_, err ? err : "(null)"); \
		ck_assert_ptr_null(err); \
	} while (0)

/* ---- tests ---- */

START_TEST(defaults_with_only_cert_and_program)
{
	ck_assert_ok(PARSE("-c", "cert.pem", "prog"));
	ck_assert(!cfg.delayed);
	ck_assert_str_eq(cfg.certfile, "cert.pem");
	ck_assert_ptr_null(cfg.app_user);
	ck_assert(!cfg.app_ids_from_env);
	ck_assert_ptr_null(cfg.tls_user);
	ck_assert_ptr_null(cfg.tls_uid);
	ck_assert_ptr_null(cfg.tls_gid);
	ck_assert_str_eq(cfg.jail_dir, DEFAULT_JAIL_DIR);
	ck_assert_str_eq(cfg.priority, DEFAULT_PRIORITY);
	ck_assert_uint_eq(cfg.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
	ck_assert_uint_eq(cfg.idle_timeout, 0);
	ck_assert_int_eq(cfg.verbosity, 1);
	ck_assert_str_eq(cfg.app_argv[0], "prog");
	ck_assert_ptr_null(cfg.app_argv[1]);
}
END_TEST

START_TEST(n_sets_delayed)
{
	ck_assert_ok(PARSE("-n", "-c", "c", "prog"));
	ck_assert(cfg.delayed);
	ck_assert(!cfg.fallback);
}
END_TEST

START_TEST(o_with_n_sets_fallback)
{
	ck_assert_ok(PARSE("-no", "-c", "c", "prog"));
	ck_assert(cfg.delayed && cfg.fallback);
}
END_TEST

START_TEST(o_without_n_is_usage_error)
{
	ck_assert_usage(PARSE("-o", "-c", "c", "prog"));
	ck_assert_str_eq(err, "-o needs -n: only delayed mode can do without TLS");
}
END_TEST

START_TEST(c_and_k_set_files)
{
	ck_assert_ok(PARSE("-c", "chain.pem", "-k", "key.pem", "prog"));
	ck_assert_str_eq(cfg.certfile, "chain.pem");
	ck_assert_str_eq(cfg.keyfile, "key.pem");
}
END_TEST

START_TEST(key_defaults_to_cert)
{
	ck_assert_ok(PARSE("-c", "both.pem", "prog"));
	ck_assert_str_eq(cfg.keyfile, "both.pem");
}
END_TEST

START_TEST(certfile_keyfile_from_env)
{
	env_set("CERTFILE", "/env/cert.pem");
	env_set("KEYFILE", "/env/key.pem");
	ck_assert_ok(PARSE("prog"));
	ck_assert_str_eq(cfg.certfile, "/env/cert.pem");
	ck_assert_str_eq(cfg.keyfile, "/env/key.pem");
}
END_TEST

START_TEST(key_from_env_defaults_to_env_cert)
{
	env_set("CERTFILE", "/env/both.pem");
	ck_assert_ok(PARSE("prog"));
	ck_assert_str_eq(cfg.keyfile, "/env/both.pem");
}
END_TEST

START_TEST(flags_win_over_env)
{
	env_set("CERTFILE", "/env/cert.pem");
	env_set("KEYFILE", "/env/key.pem");
	ck_assert_ok(PARSE("-c", "flag-cert", "-k", "flag-key", "prog"));
	ck_assert_str_eq(cfg.certfile, "flag-cert");
	ck_assert_str_eq(cfg.keyfile, "flag-key");
}
END_TEST

START_TEST(cert_flag_key_from_env)
{
	env_set("KEYFILE", "/env/key.pem");
	ck_assert_ok(PARSE("-c", "flag-cert", "prog"));
	ck_assert_str_eq(cfg.certfile, "flag-cert");
	ck_assert_str_eq(cfg.keyfile, "/env/key.pem");
}
END_TEST

START_TEST(u_sets_app_user)
{
	ck_assert_ok(PARSE("-u", "vmail", "-c", "c", "prog"));
	ck_assert_str_eq(cfg.app_user, "vmail");
	ck_assert(!cfg.app_ids_from_env);
}
END_TEST

START_TEST(U_reads_uid_and_gid)
{
	env_set("UID", "1001");
	env_set("GID", "1002");
	ck_assert_ok(PARSE("-U", "-c", "c", "prog"));
	ck_assert(cfg.app_ids_from_env);
	ck_assert_str_eq(cfg.app_uid, "1001");
	ck_assert_str_eq(cfg.app_gid, "1002");
}
END_TEST

START_TEST(U_without_gid_is_usage_error)
{
	env_set("UID", "1001");
	ck_assert_usage(PARSE("-U", "-c", "c", "prog"));
}
END_TEST

START_TEST(U_without_uid_is_usage_error)
{
	env_set("GID", "1002");
	ck_assert_usage(PARSE("-U", "-c", "c", "prog"));
}
END_TEST

START_TEST(uid_gid_ignored_without_U)
{
	env_set("UID", "1001");
	env_set("GID", "1002");
	ck_assert_ok(PARSE("-c", "c", "prog"));
	ck_assert_ptr_null(cfg.app_uid);
	ck_assert_ptr_null(cfg.app_gid);
}
END_TEST

START_TEST(j_sets_tls_user)
{
	ck_assert_ok(PARSE("-j", "tlsd", "-c", "c", "prog"));
	ck_assert_str_eq(cfg.tls_user, "tlsd");
}
END_TEST

START_TEST(j_ignores_tls_uid_env)
{
	env_set("TLS_UID", "900"); /* alone would be an error without -j */
	ck_assert_ok(PARSE("-j", "tlsd", "-c", "c", "prog"));
	ck_assert_str_eq(cfg.tls_user, "tlsd");
}
END_TEST

START_TEST(tls_uid_and_gid_from_env)
{
	env_set("TLS_UID", "900");
	env_set("TLS_GID", "901");
	ck_assert_ok(PARSE("-c", "c", "prog"));
	ck_assert_str_eq(cfg.tls_uid, "900");
	ck_assert_str_eq(cfg.tls_gid, "901");
}
END_TEST

START_TEST(tls_uid_alone_is_usage_error)
{
	env_set("TLS_UID", "900");
	ck_assert_usage(PARSE("-c", "c", "prog"));
}
END_TEST

START_TEST(tls_gid_alone_is_usage_error)
{
	env_set("TLS_GID", "901");
	ck_assert_usage(PARSE("-c", "c", "prog"));
}
END_TEST

START_TEST(J_sets_jail_dir)
{
	ck_assert_ok(PARSE("-J", "/var/empty", "-c", "c", "prog"));
	ck_assert_str_eq(cfg.jail_dir, "/var/empty");
}
END_TEST

START_TEST(T_accepts_1_and_86400)
{
	ck_assert_ok(PARSE("-T", "1", "-c", "c", "prog"));
	ck_assert_uint_eq(cfg.handshake_timeout, 1);
	ck_assert_ok(PARSE("-T", "86400", "-c", "c", "prog"));
	ck_assert_uint_eq(cfg.handshake_timeout, 86400);
}
END_TEST

START_TEST(T_rejects_out_of_range_and_non_numbers)
{
	static const char *const bad[] = { "0", "-1", "abc", "99999999", "86401", "", "5s", " 5", "+5",
	                                   "99999999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum options_result r = PARSE("-T", (char *)bad[i], "-c", "c", "prog");
		ck_assert_msg(r == OPTIONS_USAGE, "-T \"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(err);
	}
}
END_TEST

START_TEST(t_accepts_0_and_86400)
{
	ck_assert_ok(PARSE("-t", "0", "-c", "c", "prog"));
	ck_assert_uint_eq(cfg.idle_timeout, 0);
	ck_assert_ok(PARSE("-t", "86400", "-c", "c", "prog"));
	ck_assert_uint_eq(cfg.idle_timeout, 86400);
	ck_assert_ok(PARSE("-t", "300", "-c", "c", "prog"));
	ck_assert_uint_eq(cfg.idle_timeout, 300);
}
END_TEST

START_TEST(t_rejects_out_of_range_and_non_numbers)
{
	static const char *const bad[] = { "-1", "abc", "86401", "99999999", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum options_result r = PARSE("-t", (char *)bad[i], "-c", "c", "prog");
		ck_assert_msg(r == OPTIONS_USAGE, "-t \"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(err);
	}
}
END_TEST

START_TEST(p_sets_priority)
{
	ck_assert_ok(PARSE("-p", "NORMAL", "-c", "c", "prog"));
	ck_assert_str_eq(cfg.priority, "NORMAL");
}
END_TEST

START_TEST(q_sets_verbosity_0)
{
	ck_assert_ok(PARSE("-q", "-c", "c", "prog"));
	ck_assert_int_eq(cfg.verbosity, 0);
}
END_TEST

START_TEST(v_sets_verbosity_2)
{
	ck_assert_ok(PARSE("-v", "-c", "c", "prog"));
	ck_assert_int_eq(cfg.verbosity, 2);
}
END_TEST

START_TEST(facility_defaults_to_mail)
{
	ck_assert_ok(PARSE("-c", "c", "prog"));
	ck_assert_int_eq(cfg.syslog_facility, LOG_MAIL);
}
END_TEST

START_TEST(l_sets_facility)
{
	ck_assert_ok(PARSE("-l", "local3", "-c", "c", "prog"));
	ck_assert_int_eq(cfg.syslog_facility, LOG_LOCAL3);
	ck_assert_ok(PARSE("-l", "daemon", "-c", "c", "prog"));
	ck_assert_int_eq(cfg.syslog_facility, LOG_DAEMON);
}
END_TEST

START_TEST(l_rejects_unknown_facility)
{
	ck_assert_usage(PARSE("-l", "kern", "-c", "c", "prog"));
	ck_assert_ptr_nonnull(strstr(err, "-l wants a syslog facility"));
	ck_assert_usage(PARSE("-l", "MAIL", "-c", "c", "prog"));
	ck_assert_usage(PARSE("-c", "c", "-l"));
	ck_assert_str_eq(err, "-l needs an argument");
}
END_TEST

START_TEST(h_is_help)
{
	ck_assert_int_eq(PARSE("-h"), OPTIONS_HELP);
}
END_TEST

START_TEST(V_is_version)
{
	ck_assert_int_eq(PARSE("-V"), OPTIONS_VERSION);
}
END_TEST

START_TEST(unknown_option_is_usage_error)
{
	ck_assert_usage(PARSE("-y", "-c", "c", "prog"));
	ck_assert_str_eq(err, "unknown option -y");
}
END_TEST

START_TEST(long_option_named_whole)
{
	ck_assert_usage(PARSE("-n", "--starttls", "-c", "c", "prog"));
	ck_assert_str_eq(err, "unknown option --starttls (only one-letter flags)");
	/* found by fuzz-options: a newline in the word must not reach the message */
	ck_assert_usage(PARSE("--p\nx", "prog"));
	ck_assert_str_eq(err, "unknown option --p (only one-letter flags)");
}
END_TEST

START_TEST(option_missing_argument_is_usage_error)
{
	ck_assert_usage(PARSE("-c"));
	ck_assert_str_eq(err, "-c needs an argument");
	ck_assert_usage(PARSE("-c", "c", "-T"));
	ck_assert_str_eq(err, "-T needs an argument");
}
END_TEST

START_TEST(no_program_is_usage_error)
{
	ck_assert_usage(PARSE("-c", "c"));
	ck_assert_usage(PARSE("-n", "-c", "c", "--"));
}
END_TEST

START_TEST(options_after_program_belong_to_it)
{
	ck_assert_ok(PARSE("-n", "-c", "x", "prog", "-n"));
	ck_assert(cfg.delayed);
	ck_assert_str_eq(cfg.certfile, "x");
	ck_assert_str_eq(cfg.app_argv[0], "prog");
	ck_assert_str_eq(cfg.app_argv[1], "-n");
	ck_assert_ptr_null(cfg.app_argv[2]);
}
END_TEST

START_TEST(program_flags_not_taken_as_ours)
{
	ck_assert_ok(PARSE("-c", "x", "prog", "-q", "-c", "other", "-h"));
	ck_assert_int_eq(cfg.verbosity, 1);
	ck_assert_str_eq(cfg.certfile, "x");
	ck_assert_str_eq(cfg.app_argv[2], "-c");
	ck_assert_str_eq(cfg.app_argv[4], "-h");
	ck_assert_ptr_null(cfg.app_argv[5]);
}
END_TEST

START_TEST(double_dash_ends_options)
{
	ck_assert_ok(PARSE("-c", "x", "--", "-prog", "arg"));
	ck_assert_str_eq(cfg.app_argv[0], "-prog");
	ck_assert_str_eq(cfg.app_argv[1], "arg");
	ck_assert_ptr_null(cfg.app_argv[2]);
}
END_TEST

START_TEST(no_certificate_is_usage_error_naming_it)
{
	ck_assert_usage(PARSE("prog"));
	ck_assert_ptr_nonnull(strstr(err, "certificate"));
	ck_assert_usage(PARSE("-k", "key.pem", "prog"));
	ck_assert_ptr_nonnull(strstr(err, "certificate"));
}
END_TEST

START_TEST(grouped_flags)
{
	ck_assert_ok(PARSE("-nqc", "c", "prog"));
	ck_assert(cfg.delayed);
	ck_assert_int_eq(cfg.verbosity, 0);
	ck_assert_str_eq(cfg.certfile, "c");
}
END_TEST

START_TEST(repeated_parse_starts_afresh)
{
	ck_assert_ok(PARSE("-n", "-q", "-c", "one", "-T", "5", "prog1"));
	ck_assert_ok(PARSE("-c", "two", "prog2"));
	ck_assert(!cfg.delayed);
	ck_assert_int_eq(cfg.verbosity, 1);
	ck_assert_uint_eq(cfg.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
	ck_assert_str_eq(cfg.certfile, "two");
	ck_assert_str_eq(cfg.app_argv[0], "prog2");
	ck_assert_usage(PARSE("-y", "-c", "c", "prog"));
	ck_assert_ok(PARSE("-c", "three", "prog3"));
	ck_assert_str_eq(cfg.app_argv[0], "prog3");
}
END_TEST

/* Was a bug (src/options.c, options_parse): "optind = 1" does not fully
 * reset glibc's getopt.  When a parse returns in the middle of a group of
 * flags (here -h in "-hn"; likewise -V, a bad -T/-t, or an unknown option
 * followed by more letters, as in "-xn"), glibc keeps a pointer to the rest of
 * that group (its internal nextchar), and the next call resumes there -- in
 * the previous argv -- instead of at argv[1].  Here the second call sees a
 * stray 'n' and then takes "x" as the program: "no certificate".  The
 * glibc way to restart is optind = 0.  This only matters for callers that
 * parse more than once per process (tests, a fuzzer); ucspi-tlsd itself parses
 * once.  Regression test: fixed with optind = 0. */
START_TEST(repeated_parse_after_early_return_in_flag_group)
{
	ck_assert_int_eq(PARSE("-hn", "prog"), OPTIONS_HELP);
	ck_assert_ok(PARSE("-c", "x", "prog"));
	ck_assert(!cfg.delayed);
	ck_assert_str_eq(cfg.certfile, "x");
	ck_assert_str_eq(cfg.app_argv[0], "prog");
}
END_TEST

static void setup(void)
{
	env_clear();
	err = NULL;
}

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc;

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, defaults_with_only_cert_and_program);
	tcase_add_test(tc, n_sets_delayed);
	tcase_add_test(tc, o_with_n_sets_fallback);
	tcase_add_test(tc, o_without_n_is_usage_error);
	tcase_add_test(tc, c_and_k_set_files);
	tcase_add_test(tc, key_defaults_to_cert);
	tcase_add_test(tc, certfile_keyfile_from_env);
	tcase_add_test(tc, key_from_env_defaults_to_env_cert);
	tcase_add_test(tc, flags_win_over_env);
	tcase_add_test(tc, cert_flag_key_from_env);
	tcase_add_test(tc, no_certificate_is_usage_error_naming_it);
	suite_add_tcase(s, tc);

	tc = tcase_create("users");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, facility_defaults_to_mail);
	tcase_add_test(tc, l_sets_facility);
	tcase_add_test(tc, l_rejects_unknown_facility);
	tcase_add_test(tc, u_sets_app_user);
	tcase_add_test(tc, U_reads_uid_and_gid);
	tcase_add_test(tc, U_without_gid_is_usage_error);
	tcase_add_test(tc, U_without_uid_is_usage_error);
	tcase_add_test(tc, uid_gid_ignored_without_U);
	tcase_add_test(tc, j_sets_tls_user);
	tcase_add_test(tc, j_ignores_tls_uid_env);
	tcase_add_test(tc, tls_uid_and_gid_from_env);
	tcase_add_test(tc, tls_uid_alone_is_usage_error);
	tcase_add_test(tc, tls_gid_alone_is_usage_error);
	tcase_add_test(tc, J_sets_jail_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeouts_and_misc");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, T_accepts_1_and_86400);
	tcase_add_test(tc, T_rejects_out_of_range_and_non_numbers);
	tcase_add_test(tc, t_accepts_0_and_86400);
	tcase_add_test(tc, t_rejects_out_of_range_and_non_numbers);
	tcase_add_test(tc, p_sets_priority);
	tcase_add_test(tc, q_sets_verbosity_0);
	tcase_add_test(tc, v_sets_verbosity_2);
	tcase_add_test(tc, h_is_help);
	tcase_add_test(tc, V_is_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("argv");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, unknown_option_is_usage_error);
	tcase_add_test(tc, long_option_named_whole);
	tcase_add_test(tc, option_missing_argument_is_usage_error);
	tcase_add_test(tc, no_program_is_usage_error);
	tcase_add_test(tc, options_after_program_belong_to_it);
	tcase_add_test(tc, program_flags_not_taken_as_ours);
	tcase_add_test(tc, double_dash_ends_options);
	tcase_add_test(tc, grouped_flags);
	tcase_add_test(tc, repeated_parse_starts_afresh);
	suite_add_tcase(s, tc);

	/* Tests for known bugs in src/ (see the comment above each). */
	tc = tcase_create("regressions");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, repeated_parse_after_early_return_in_flag_group);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(options_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
