/* Unit tests for src/ucspienv.c: address text, the 'Y' reply block, protocol
 * names. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "ucspienv.h"

/* ---- ucspienv_format_addr ---- */

static struct sockaddr_storage ss;
static char ip[46], port[6];

static void set_in4(const char *addr, unsigned short p)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	memset(&ss, 0, sizeof ss);
	in->sin_family = AF_INET;
	in->sin_port = htons(p);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &in->sin_addr), 1);
}

static void set_in6(const char *addr, unsigned short p)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	memset(&ss, 0, sizeof ss);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(p);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
}

START_TEST(addr_ipv4)
{
	set_in4("192.0.2.7", 465);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(ip, "192.0.2.7");
	ck_assert_str_eq(port, "465");
}
END_TEST

START_TEST(addr_ipv4_mapped_ipv6_printed_as_ipv4)
{
	set_in6("::ffff:198.51.100.23", 993);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(ip, "198.51.100.23");
	ck_assert_str_eq(port, "993");
}
END_TEST

START_TEST(addr_ipv6_loopback)
{
	set_in6("::1", 25);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(ip, "::1");
	ck_assert_str_eq(port, "25");
}
END_TEST

START_TEST(addr_ipv6_documentation_prefix)
{
	set_in6("2001:db8:0:0:0:0:0:1", 587);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(ip, "2001:db8::1");
	ck_assert_str_eq(port, "587");
}
END_TEST

START_TEST(addr_port_extremes)
{
	set_in4("127.0.0.1", 0);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(port, "0");
	set_in6("::1", 65535);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(port, "65535");
}
END_TEST

START_TEST(addr_longest_ipv6_fits)
{
	set_in6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 1);
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), 0);
	ck_assert_str_eq(ip, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
}
END_TEST

START_TEST(addr_unix_is_not_ip)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	memset(&ss, 0, sizeof ss);
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, "/run/x.sock");
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), -1);
}
END_TEST

START_TEST(addr_unspec_is_not_ip)
{
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNSPEC;
	ck_assert_int_eq(ucspienv_format_addr(&ss, ip, port), -1);
}
END_TEST

/* ---- envblock ---- */

static struct envblock b;

/* Every entry in b->buf[0..len) up to the first empty one has a '='. */
static void assert_no_bare_name(const struct envblock *blk, size_t len)
{
	size_t pos = 0;
	while (pos < len && blk->buf[pos] != '\0') {
		const char *e = blk->buf + pos;
		size_t elen = strnlen(e, len - pos);
		ck_assert_msg(elen < len - pos, "entry at %zu not NUL-terminated", pos);
		ck_assert_msg(memchr(e, '=', elen) != NULL, "bare name at %zu: %s", pos, e);
		pos += elen + 1;
	}
}

START_TEST(block_two_entries_exact_bytes)
{
	static const char want[] = "SSL_PROTOCOL=TLSv1.3\0SSL_CIPHER=TLS_AES_128_GCM_SHA256\0";
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "SSL_PROTOCOL", "TLSv1.3"), 0);
	ck_assert_int_eq(envblock_add(&b, "SSL_CIPHER", "TLS_AES_128_GCM_SHA256"), 0);
	ck_assert_uint_eq(b.count, 2);
	/* sizeof want counts both the last entry's NUL and the terminator */
	ck_assert_uint_eq(envblock_finish(&b), sizeof want);
	ck_assert_mem_eq(b.buf, want, sizeof want);
}
END_TEST

START_TEST(block_zero_entries_is_two_nuls)
{
	envblock_init(&b);
	ck_assert_uint_eq(envblock_finish(&b), 2);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_int_eq(b.buf[0], '\0');
	ck_assert_int_eq(b.buf[1], '\0');
}
END_TEST

START_TEST(block_empty_value_is_name_equals)
{
	static const char want[] = "SSL_TLS_SNI_SERVERNAME=\0";
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "SSL_TLS_SNI_SERVERNAME", ""), 0);
	ck_assert_uint_eq(envblock_finish(&b), sizeof want);
	ck_assert_mem_eq(b.buf, want, sizeof want);
	assert_no_bare_name(&b, b.len);
}
END_TEST

START_TEST(block_bad_names_rejected_and_append_nothing)
{
	static const char *const bad[] = {
		"ssl_cipher", "Ssl", "", "A=B", "A B", "A-B", "A.B", "\xc3\x89", "A\n",
	};
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "OK_1", "v"), 0);
	size_t len = b.len;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(envblock_add(&b, bad[i], "x") == -1, "name \"%s\" accepted", bad[i]);
		ck_assert_uint_eq(b.len, len);
		ck_assert_uint_eq(b.count, 1);
	}
	envblock_finish(&b);
	assert_no_bare_name(&b, b.len);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, NULL, NULL), 1);
}
END_TEST

START_TEST(block_name_digits_underscore_ok)
{
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "_0A9Z_", "v"), 0);
}
END_TEST

START_TEST(block_control_and_high_bytes_in_value_become_question_marks)
{
	static const char want[] = "V=a?b?c?d?e~ \0";
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "V", "a\nb\x01" "c\x7f" "d\xff" "e~ "), 0);
	ck_assert_uint_eq(envblock_finish(&b), sizeof want);
	ck_assert_mem_eq(b.buf, want, sizeof want);
}
END_TEST

START_TEST(block_value_with_equals_kept)
{
	static const char want[] = "DN=CN=a,O=b\0";
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "DN", "CN=a,O=b"), 0);
	ck_assert_uint_eq(envblock_finish(&b), sizeof want);
	ck_assert_mem_eq(b.buf, want, sizeof want);
}
END_TEST

START_TEST(block_largest_entry_fits_and_parses)
{
	/* "A=" value "\0" plus the final "\0" must fit in ENVBLOCK_MAX, with the
	 * add's reserve of two bytes: 1 + 1 + v + 1 + 2 <= ENVBLOCK_MAX. */
	static char v[ENVBLOCK_MAX];
	size_t vmax = ENVBLOCK_MAX - 5;
	memset(v, 'x', vmax);
	v[vmax] = '\0';
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "A", v), 0);
	ck_assert_uint_le(envblock_finish(&b), ENVBLOCK_MAX);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, NULL, NULL), 1);
}
END_TEST

START_TEST(block_overflow_rejected_block_intact)
{
	static char v[ENVBLOCK_MAX + 1];
	char keep[ENVBLOCK_MAX];
	unsigned n = 0;

	memset(v, 'y', 100);
	v[100] = '\0';
	envblock_init(&b);
	while (envblock_add(&b, "NAME", v) == 0)
		n++;
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(b.count, n);
	size_t len = b.len;
	memcpy(keep, b.buf, len);

	/* neither a large nor a just-too-large entry changes anything */
	memset(v, 'z', ENVBLOCK_MAX);
	v[ENVBLOCK_MAX] = '\0';
	ck_assert_int_eq(envblock_add(&b, "BIG", v), -1);
	v[ENVBLOCK_MAX - len - 5 + 1] = '\0'; /* one byte over the room left */
	ck_assert_int_eq(envblock_add(&b, "A", v), -1);
	ck_assert_uint_eq(b.len, len);
	ck_assert_uint_eq(b.count, n);
	ck_assert_mem_eq(b.buf, keep, len);

	ck_assert_uint_le(envblock_finish(&b), ENVBLOCK_MAX);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, NULL, NULL), (int)n);
}
END_TEST

START_TEST(block_fill_to_the_last_byte_then_finish)
{
	static char v[ENVBLOCK_MAX];
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, "A", "1"), 0);
	/* exactly the room left: 1 + 1 + v + 1 + 2 == ENVBLOCK_MAX - b.len */
	size_t vlen = ENVBLOCK_MAX - b.len - 5;
	memset(v, 'q', vlen);
	v[vlen] = '\0';
	ck_assert_int_eq(envblock_add(&b, "B", v), 0);
	ck_assert_int_eq(envblock_add(&b, "C", ""), -1);
	ck_assert_uint_le(envblock_finish(&b), ENVBLOCK_MAX);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, NULL, NULL), 2);
}
END_TEST

/* Callback that records what it is given. */
struct seen {
	int calls;
	char names[8][64];
	char values[8][256];
};

static void record(const char *name, const char *value, void *arg)
{
	struct seen *s = arg;
	if (s->calls < 8) {
		strncpy(s->names[s->calls], name, sizeof s->names[0] - 1);
		strncpy(s->values[s->calls], value, sizeof s->values[0] - 1);
	}
	s->calls++;
}

START_TEST(parse_round_trips)
{
	struct seen s = { 0 };
	envblock_init(&b);
	envblock_add(&b, "SSL_PROTOCOL", "TLSv1.2");
	envblock_add(&b, "SSL_CIPHER", "ECDHE-RSA-AES256-GCM-SHA384");
	envblock_add(&b, "SSL_TLS_SNI_SERVERNAME", "");
	envblock_add(&b, "X", "a\tb=c");
	envblock_finish(&b);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, record, &s), 4);
	ck_assert_int_eq(s.calls, 4);
	ck_assert_str_eq(s.names[0], "SSL_PROTOCOL");
	ck_assert_str_eq(s.values[0], "TLSv1.2");
	ck_assert_str_eq(s.names[1], "SSL_CIPHER");
	ck_assert_str_eq(s.values[1], "ECDHE-RSA-AES256-GCM-SHA384");
	ck_assert_str_eq(s.names[2], "SSL_TLS_SNI_SERVERNAME");
	ck_assert_str_eq(s.values[2], "");
	ck_assert_str_eq(s.names[3], "X");
	ck_assert_str_eq(s.values[3], "a?b=c");
}
END_TEST

START_TEST(parse_zero_entries_block)
{
	struct seen s = { 0 };
	envblock_init(&b);
	envblock_finish(&b);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, record, &s), 0);
	ck_assert_int_eq(s.calls, 0);
}
END_TEST

START_TEST(parse_name_of_127_chars_round_trips)
{
	struct seen s = { 0 };
	char name[128];
	memset(name, 'N', 127);
	name[127] = '\0';
	envblock_init(&b);
	ck_assert_int_eq(envblock_add(&b, name, "v"), 0);
	envblock_finish(&b);
	ck_assert_int_eq(envblock_parse(b.buf, b.len, record, &s), 1);
}
END_TEST

/* A malformed block: parse returns -1 and never calls fn. */
static void assert_rejected(const char *buf, size_t len)
{
	struct seen s = { 0 };
	ck_assert_int_eq(envblock_parse(buf, len, record, &s), -1);
	ck_assert_int_eq(s.calls, 0);
}

START_TEST(parse_rejects_missing_final_nul)
{
	assert_rejected("A=1\0B=2\0", 8);
}
END_TEST

START_TEST(parse_rejects_unterminated_entry)
{
	assert_rejected("A=1\0B=2", 7);
}
END_TEST

START_TEST(parse_rejects_bare_name)
{
	assert_rejected("A=1\0SSL_CIPHER\0\0", 16);
	assert_rejected("A\0\0", 3);
}
END_TEST

START_TEST(parse_rejects_control_char_in_value)
{
	assert_rejected("A=1\0B=x\ty\0\0", 11);
	assert_rejected("A=\x7f\0\0", 5);
	assert_rejected("A=\x80\0\0", 5);
}
END_TEST

START_TEST(parse_rejects_bad_name)
{
	assert_rejected("A=1\0b=2\0\0", 9);
	assert_rejected("=2\0\0", 4);
}
END_TEST

START_TEST(parse_rejects_trailing_garbage)
{
	assert_rejected("A=1\0\0X", 6);
	assert_rejected("A=1\0\0\0", 6);
	assert_rejected("\0\0\0", 3);
}
END_TEST

START_TEST(parse_rejects_empty_buffer)
{
	assert_rejected("", 0);
}
END_TEST

START_TEST(parse_rejects_single_nul)
{
	assert_rejected("\0", 1);
}
END_TEST

START_TEST(parse_good_entries_before_bad_one_not_reported)
{
	/* the first two entries are fine; the callback still sees none */
	assert_rejected("A=1\0B=2\0c=3\0\0", 13);
}
END_TEST

START_TEST(parse_without_callback_counts)
{
	ck_assert_int_eq(envblock_parse("A=1\0B=2\0\0", 9, NULL, NULL), 2);
}
END_TEST

/* ---- ucspienv_protocol_name and own vars ---- */

START_TEST(protocol_tls13)
{
	ck_assert_str_eq(ucspienv_protocol_name("TLS1.3"), "TLSv1.3");
}
END_TEST

START_TEST(protocol_tls12)
{
	ck_assert_str_eq(ucspienv_protocol_name("TLS1.2"), "TLSv1.2");
}
END_TEST

START_TEST(protocol_null_is_unknown)
{
	ck_assert_str_eq(ucspienv_protocol_name(NULL), "unknown");
}
END_TEST

START_TEST(own_vars_list_and_terminator)
{
	static const char *const want[] = { "CERTFILE", "KEYFILE", "TLS_UID", "TLS_GID" };
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(ucspienv_own_vars[i], want[i]);
	ck_assert_ptr_null(ucspienv_own_vars[4]);
}
END_TEST

static Suite *ucspienv_suite(void)
{
	Suite *s = suite_create("ucspienv");
	TCase *tc;

	tc = tcase_create("format_addr");
	tcase_add_test(tc, addr_ipv4);
	tcase_add_test(tc, addr_ipv4_mapped_ipv6_printed_as_ipv4);
	tcase_add_test(tc, addr_ipv6_loopback);
	tcase_add_test(tc, addr_ipv6_documentation_prefix);
	tcase_add_test(tc, addr_port_extremes);
	tcase_add_test(tc, addr_longest_ipv6_fits);
	tcase_add_test(tc, addr_unix_is_not_ip);
	tcase_add_test(tc, addr_unspec_is_not_ip);
	suite_add_tcase(s, tc);

	tc = tcase_create("envblock_build");
	tcase_add_test(tc, block_two_entries_exact_bytes);
	tcase_add_test(tc, block_zero_entries_is_two_nuls);
	tcase_add_test(tc, block_empty_value_is_name_equals);
	tcase_add_test(tc, block_bad_names_rejected_and_append_nothing);
	tcase_add_test(tc, block_name_digits_underscore_ok);
	tcase_add_test(tc, block_control_and_high_bytes_in_value_become_question_marks);
	tcase_add_test(tc, block_value_with_equals_kept);
	tcase_add_test(tc, block_largest_entry_fits_and_parses);
	tcase_add_test(tc, block_overflow_rejected_block_intact);
	tcase_add_test(tc, block_fill_to_the_last_byte_then_finish);
	suite_add_tcase(s, tc);

	tc = tcase_create("envblock_parse");
	tcase_add_test(tc, parse_round_trips);
	tcase_add_test(tc, parse_zero_entries_block);
	tcase_add_test(tc, parse_name_of_127_chars_round_trips);
	tcase_add_test(tc, parse_rejects_missing_final_nul);
	tcase_add_test(tc, parse_rejects_unterminated_entry);
	tcase_add_test(tc, parse_rejects_bare_name);
	tcase_add_test(tc, parse_rejects_control_char_in_value);
	tcase_add_test(tc, parse_rejects_bad_name);
	tcase_add_test(tc, parse_rejects_trailing_garbage);
	tcase_add_test(tc, parse_rejects_empty_buffer);
	tcase_add_test(tc, parse_rejects_single_nul);
	tcase_add_test(tc, parse_good_entries_before_bad_one_not_reported);
	tcase_add_test(tc, parse_without_callback_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, protocol_tls13);
	tcase_add_test(tc, protocol_tls12);
	tcase_add_test(tc, protocol_null_is_unknown);
	tcase_add_test(tc, own_vars_list_and_terminator);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ucspienv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
