/* Unit tests for the flags of the TLS features (src/options.c: -d -x -a -A
 * -C -s -S -e -L) and the ticket key derivation (src/tickets.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "tickets.h"

static struct config cfg;
static const char *err;
static char *argv_store[32];

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

/* argv: ucspi-tlsd -c cert.pem ARGS... prog, copied to static storage so
 * that cfg's pointers stay valid. */
#define ARGV(...) ((char *[]){ "ucspi-tlsd", "-c", "cert.pem", __VA_ARGS__ "prog" })
#define PARSE(...) parse_list(ARGV(__VA_ARGS__, ), sizeof ARGV(__VA_ARGS__, ) / sizeof(char *))

static enum options_result parse_list(char **args, size_t argc)
{
	ck_assert_uint_lt(argc, sizeof argv_store / sizeof argv_store[0]);
	memcpy(argv_store, args, argc * sizeof *args);
	argv_store[argc] = NULL;
	return options_parse(&cfg, (int)argc, argv_store, no_env, &err);
}

#define ck_assert_usage(expr, words) do { \
		ck_assert_int_eq((expr), OPTIONS_USAGE); \
		ck_assert_ptr_nonnull(strstr(err, (words))); \
	} while (0)

START_TEST(defaults_all_off)
{
	ck_assert_int_eq(parse_list(ARGV(), 4), OPTIONS_OK);
	ck_assert_ptr_null(cfg.certdir);
	ck_assert(!cfg.refuse_unknown_names);
	ck_assert_int_eq(cfg.client_certs, CLIENT_CERTS_NONE);
	ck_assert_ptr_null(cfg.ticket_keyfile);
	ck_assert_uint_eq(cfg.ticket_lifetime, DEFAULT_TICKET_LIFETIME);
	ck_assert(!cfg.tickets_with_client_certs);
	ck_assert_ptr_null(cfg.alpn);
}
END_TEST

START_TEST(sni_flags)
{
	ck_assert_int_eq(PARSE("-d", "/etc/ssl/names", "-x"), OPTIONS_OK);
	ck_assert_str_eq(cfg.certdir, "/etc/ssl/names");
	ck_assert(cfg.refuse_unknown_names);
}
END_TEST

START_TEST(client_cert_flags)
{
	ck_assert_int_eq(PARSE("-a", "ca.pem"), OPTIONS_OK);
	ck_assert_int_eq(cfg.client_certs, CLIENT_CERTS_REQUEST);
	ck_assert_str_eq(cfg.client_ca, "ca.pem");
	ck_assert_int_eq(PARSE("-A", "ca2.pem", "-C", "crl.pem"), OPTIONS_OK);
	ck_assert_int_eq(cfg.client_certs, CLIENT_CERTS_REQUIRE);
	ck_assert_str_eq(cfg.client_ca, "ca2.pem");
	ck_assert_str_eq(cfg.client_crl, "crl.pem");
	ck_assert_usage(PARSE("-C", "crl.pem"), "-C needs -a or -A");
}
END_TEST

START_TEST(ticket_flags)
{
	ck_assert_int_eq(PARSE("-s", "stek", "-S", "21600", "-e"), OPTIONS_OK);
	ck_assert_str_eq(cfg.ticket_keyfile, "stek");
	ck_assert_uint_eq(cfg.ticket_lifetime, 21600);
	ck_assert(cfg.tickets_with_client_certs);
	ck_assert_usage(PARSE("-s", "stek", "-S", "21601"), "-S");
	ck_assert_usage(PARSE("-s", "stek", "-S", "0"), "-S");
	ck_assert_usage(PARSE("-e"), "-e needs -s");
}
END_TEST

START_TEST(alpn_list)
{
	char long_name[300];

	ck_assert_int_eq(PARSE("-L", "imap"), OPTIONS_OK);
	ck_assert_str_eq(cfg.alpn, "imap");
	ck_assert_int_eq(PARSE("-L", "1,2,3,4,5,6,7,h2"), OPTIONS_OK);
	ck_assert_usage(PARSE("-L", "1,2,3,4,5,6,7,8,9"), "-L");
	ck_assert_usage(PARSE("-L", "h2,,imap"), "-L");
	ck_assert_usage(PARSE("-L", "h2,"), "-L");
	ck_assert_usage(PARSE("-L", ""), "-L");
	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	ck_assert_usage(PARSE("-L", long_name), "-L");
	long_name[255] = '\0';
	ck_assert_int_eq(PARSE("-L", long_name), OPTIONS_OK);
}
END_TEST

START_TEST(gnutls_versions_for_tickets)
{
	ck_assert(tickets_version_ok("3.6.14"));
	ck_assert(tickets_version_ok("3.7.9"));
	ck_assert(tickets_version_ok("3.10.0"));
	ck_assert(tickets_version_ok("4.0"));
	ck_assert(!tickets_version_ok("3.6.13"));
	ck_assert(!tickets_version_ok("3.5.19"));
	ck_assert(!tickets_version_ok("2.12.0"));
	ck_assert(!tickets_version_ok("garbage"));
	ck_assert(!tickets_version_ok(NULL));
}
END_TEST

/* HMAC-SHA-512(master, "ucspi-tlsd session ticket key" 0x00 be64(period)),
 * the value from Python's hmac module. */
START_TEST(ticket_key_derivation)
{
	static const char expected[] =
		"a09ce203ad17b9a618312239149e09406b1246234e1ef25d8524c3c0382f1461"
		"ceeecae820dc997b99c8a03cd23ccec3c810f6ec2df14dc0e61ebb8aa8a67459";
	unsigned char master[32], out[TICKET_KEY_SIZE], next[TICKET_KEY_SIZE];
	char hex[2 * TICKET_KEY_SIZE + 1];

	for (int i = 0; i < 32; i++)
		master[i] = (unsigned char)i;
	ck_assert_int_eq(tickets_derive(master, sizeof master, 12345, out), 0);
	for (int i = 0; i < TICKET_KEY_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	ck_assert_str_eq(hex, expected);
	ck_assert_int_eq(tickets_derive(master, sizeof master, 12346, next), 0);
	ck_assert(memcmp(out, next, sizeof out) != 0);
}
END_TEST

/* -e: HMAC-SHA-512(key, "ucspi-tlsd client certificate policy" 0x00
 * context), the value from Python's hmac module; another mode, another key. */
START_TEST(ticket_key_bound_to_client_cert_policy)
{
	static const char expected[] =
		"6280948ee545bc25c90f9e425027314164db9df53928e93991c8ec187f379ae4"
		"d2651eb2d2aa2c257e4587cdb5dc3aa4d10c03e185b6ba12abf9bc690afe4d71";
	unsigned char key[TICKET_KEY_SIZE], other[TICKET_KEY_SIZE], context[33];
	char hex[2 * TICKET_KEY_SIZE + 1];

	for (int i = 0; i < TICKET_KEY_SIZE; i++)
		key[i] = other[i] = (unsigned char)i;
	context[0] = 'A';
	for (int i = 0; i < 32; i++)
		context[1 + i] = (unsigned char)i;
	ck_assert_int_eq(tickets_bind(key, context, sizeof context), 0);
	for (int i = 0; i < TICKET_KEY_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	ck_assert_str_eq(hex, expected);
	context[0] = 'a';
	ck_assert_int_eq(tickets_bind(other, context, sizeof context), 0);
	ck_assert(memcmp(key, other, sizeof key) != 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("features");
	TCase *tc = tcase_create("flags");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults_all_off);
	tcase_add_test(tc, sni_flags);
	tcase_add_test(tc, client_cert_flags);
	tcase_add_test(tc, ticket_flags);
	tcase_add_test(tc, alpn_list);
	suite_add_tcase(s, tc);
	tc = tcase_create("tickets");
	tcase_add_test(tc, gnutls_versions_for_tickets);
	tcase_add_test(tc, ticket_key_derivation);
	tcase_add_test(tc, ticket_key_bound_to_client_cert_policy);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
