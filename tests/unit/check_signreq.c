/* Unit tests for src/signreq.c: the key channel's decoding and the parent's
 * judgement of sign requests. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "signreq.h"

#define HDR sizeof(struct kreq_header)

/* A refusal is a non-NULL, non-empty reason. */
#define ck_assert_refused(expr) do { \
		const char *why_ = (expr); \
		ck_assert_ptr_nonnull(why_); \
		ck_assert_uint_gt(strlen(why_), 0); \
	} while (0)

static unsigned char buf[HDR + SIGNREQ_MAXDATA + 16];
static struct kreq req;

/* Write a header and datalen bytes of a fixed pattern; return the total size. */
static size_t put(uint32_t op, uint32_t key, uint32_t algo, uint32_t flags, uint32_t len, size_t datalen)
{
	struct kreq_header h = { op, key, algo, flags, len };

	memcpy(buf, &h, sizeof h);
	for (size_t i = 0; i < datalen; i++)
		buf[HDR + i] = (unsigned char)(i * 7 + 1);
	return HDR + datalen;
}

static const struct keyinfo rsa_key = { GNUTLS_PK_RSA, GNUTLS_ECC_CURVE_INVALID, 2048 };
static const struct keyinfo p256_key = { GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP256R1, 256 };
static const struct keyinfo p384_key = { GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP384R1, 384 };
static const struct keyinfo ed_key = { GNUTLS_PK_EDDSA_ED25519, GNUTLS_ECC_CURVE_ED25519, 256 };

/* ---- kreq_decode ---- */

START_TEST(decode_empty_message_is_short)
{
	ck_assert_refused(kreq_decode(buf, 0, &req));
}
END_TEST

START_TEST(decode_header_minus_one_byte_is_short)
{
	put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, 0, 0, 0);
	ck_assert_refused(kreq_decode(buf, HDR - 1, &req));
}
END_TEST

START_TEST(decode_declared_length_over_max_refused)
{
	size_t n = put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, 0, SIGNREQ_MAXDATA + 1, SIGNREQ_MAXDATA + 1);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_declared_length_below_received_refused)
{
	size_t n = put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, 0, 31, 32);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_declared_length_above_received_refused)
{
	size_t n = put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, 0, 33, 32);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_nonzero_flags_refused)
{
	size_t n = put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, 1, 32, 32);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_unknown_op_refused)
{
	static const uint32_t ops[] = { 0, KMSG_HANDSHAKE_START + 1, 0xffffffffu };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t n = put(ops[i], 0, 0, 0, 0, 0);
		ck_assert_refused(kreq_decode(buf, n, &req));
	}
}
END_TEST

/* The handshake messages carry nothing: loop tests run for each. */
static const uint32_t handshake_ops[] = { KMSG_HANDSHAKE_DONE, KMSG_HANDSHAKE_START };

START_TEST(decode_handshake_done_ok)
{
	size_t n = put(handshake_ops[_i], 0, 0, 0, 0, 0);
	ck_assert_ptr_null(kreq_decode(buf, n, &req));
	ck_assert_uint_eq(req.h.op, handshake_ops[_i]);
}
END_TEST

START_TEST(decode_handshake_done_with_data_refused)
{
	size_t n = put(handshake_ops[_i], 0, 0, 0, 1, 1);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_handshake_done_with_key_refused)
{
	size_t n = put(handshake_ops[_i], 1, 0, 0, 0, 0);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_handshake_done_with_algo_refused)
{
	size_t n = put(handshake_ops[_i], 0, GNUTLS_SIGN_RSA_SHA256, 0, 0, 0);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_log_max_text_ok)
{
	size_t n = put(KMSG_LOG, LOG_LEVEL_INFO, 0, 0, KMSG_MAXTEXT, KMSG_MAXTEXT);
	ck_assert_ptr_null(kreq_decode(buf, n, &req));
	ck_assert_uint_eq(req.h.len, KMSG_MAXTEXT);
}
END_TEST

START_TEST(decode_log_text_over_max_refused)
{
	size_t n = put(KMSG_LOG, LOG_LEVEL_INFO, 0, 0, KMSG_MAXTEXT + 1, KMSG_MAXTEXT + 1);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_summary_max_text_ok)
{
	size_t n = put(KMSG_SUMMARY, 0, 0, 0, KMSG_MAXTEXT, KMSG_MAXTEXT);
	ck_assert_ptr_null(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_summary_text_over_max_refused)
{
	size_t n = put(KMSG_SUMMARY, 0, 0, 0, KMSG_MAXTEXT + 1, KMSG_MAXTEXT + 1);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_log_levels_0_to_2_ok)
{
	for (uint32_t lvl = LOG_LEVEL_ERROR; lvl <= LOG_LEVEL_DEBUG; lvl++) {
		size_t n = put(KMSG_LOG, lvl, 0, 0, 5, 5);
		ck_assert_ptr_null(kreq_decode(buf, n, &req));
		ck_assert_uint_eq(req.h.key, lvl);
	}
}
END_TEST

START_TEST(decode_log_level_3_refused)
{
	size_t n = put(KMSG_LOG, LOG_LEVEL_DEBUG + 1, 0, 0, 5, 5);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_summary_key_3_refused)
{
	size_t n = put(KMSG_SUMMARY, 3, 0, 0, 5, 5);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_summary_with_a_level_refused)
{
	size_t n = put(KMSG_SUMMARY, LOG_LEVEL_INFO, 0, 0, 5, 5);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_log_with_algo_refused)
{
	size_t n = put(KMSG_LOG, LOG_LEVEL_INFO, 1, 0, 5, 5);
	ck_assert_refused(kreq_decode(buf, n, &req));
}
END_TEST

START_TEST(decode_sign_hash_ok_copies_header_and_data)
{
	size_t n = put(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, 0, 32, 32);
	ck_assert_ptr_null(kreq_decode(buf, n, &req));
	ck_assert_uint_eq(req.h.op, KMSG_SIGN_HASH);
	ck_assert_uint_eq(req.h.key, 0);
	ck_assert_uint_eq(req.h.algo, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256);
	ck_assert_uint_eq(req.h.flags, 0);
	ck_assert_uint_eq(req.h.len, 32);
	ck_assert_mem_eq(req.data, buf + HDR, 32);
}
END_TEST

START_TEST(decode_sign_data_max_length_ok)
{
	size_t n = put(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, 0, SIGNREQ_MAXDATA, SIGNREQ_MAXDATA);
	ck_assert_ptr_null(kreq_decode(buf, n, &req));
	ck_assert_uint_eq(req.h.len, SIGNREQ_MAXDATA);
	ck_assert_mem_eq(req.data, buf + HDR, SIGNREQ_MAXDATA);
}
END_TEST

/* ---- sign_algo_allowed ---- */

START_TEST(rsa_key_allows_pkcs1_and_pss_rsae)
{
	static const gnutls_sign_algorithm_t ok[] = {
		GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_RSA_SHA384, GNUTLS_SIGN_RSA_SHA512,
		GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384,
		GNUTLS_SIGN_RSA_PSS_RSAE_SHA512,
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		ck_assert_msg(sign_algo_allowed(&rsa_key, ok[i]), "algo %d", (int)ok[i]);
}
END_TEST

START_TEST(rsa_key_refuses_pss_pkcs1_sha1_ecdsa_eddsa)
{
	static const gnutls_sign_algorithm_t no[] = {
		GNUTLS_SIGN_RSA_PSS_SHA256, GNUTLS_SIGN_RSA_PSS_SHA384, GNUTLS_SIGN_RSA_SHA1,
		GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256,
		GNUTLS_SIGN_EDDSA_ED25519, GNUTLS_SIGN_UNKNOWN,
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!sign_algo_allowed(&rsa_key, no[i]), "algo %d", (int)no[i]);
}
END_TEST

START_TEST(p256_key_allows_ecdsa_any_curve_and_secp256r1)
{
	static const gnutls_sign_algorithm_t ok[] = {
		GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_SIGN_ECDSA_SHA384, GNUTLS_SIGN_ECDSA_SHA512,
		GNUTLS_SIGN_ECDSA_SECP256R1_SHA256,
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		ck_assert_msg(sign_algo_allowed(&p256_key, ok[i]), "algo %d", (int)ok[i]);
}
END_TEST

START_TEST(p256_key_refuses_secp384r1_rsa_eddsa)
{
	static const gnutls_sign_algorithm_t no[] = {
		GNUTLS_SIGN_ECDSA_SECP384R1_SHA384, GNUTLS_SIGN_ECDSA_SECP521R1_SHA512,
		GNUTLS_SIGN_ECDSA_SHA1, GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_EDDSA_ED25519,
		GNUTLS_SIGN_UNKNOWN,
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!sign_algo_allowed(&p256_key, no[i]), "algo %d", (int)no[i]);
}
END_TEST

START_TEST(p384_key_allows_secp384r1_refuses_secp256r1)
{
	ck_assert(sign_algo_allowed(&p384_key, GNUTLS_SIGN_ECDSA_SECP384R1_SHA384));
	ck_assert(sign_algo_allowed(&p384_key, GNUTLS_SIGN_ECDSA_SHA256));
	ck_assert(!sign_algo_allowed(&p384_key, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256));
}
END_TEST

START_TEST(ecdsa_key_on_other_curve_refuses_unknown_algo)
{
	const struct keyinfo k = { GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP224R1, 224 };
	ck_assert(!sign_algo_allowed(&k, GNUTLS_SIGN_UNKNOWN));
	ck_assert(sign_algo_allowed(&k, GNUTLS_SIGN_ECDSA_SHA256));
}
END_TEST

START_TEST(ed25519_key_allows_only_eddsa_ed25519)
{
	static const gnutls_sign_algorithm_t no[] = {
		GNUTLS_SIGN_EDDSA_ED448, GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256,
		GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_SIGN_UNKNOWN,
	};
	ck_assert(sign_algo_allowed(&ed_key, GNUTLS_SIGN_EDDSA_ED25519));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!sign_algo_allowed(&ed_key, no[i]), "algo %d", (int)no[i]);
}
END_TEST

START_TEST(unsupported_pk_allows_nothing)
{
	const struct keyinfo k = { GNUTLS_PK_DSA, GNUTLS_ECC_CURVE_INVALID, 2048 };
	ck_assert(!sign_algo_allowed(&k, GNUTLS_SIGN_DSA_SHA256));
	ck_assert(!sign_algo_allowed(&k, GNUTLS_SIGN_RSA_SHA256));
}
END_TEST

/* ---- digestinfo_valid ---- */

/* RFC 8017 9.2 note 1, written out independently of src/signreq.c. */
static const unsigned char di_sha256[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const unsigned char di_sha384[19] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const unsigned char di_sha512[19] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };
static const unsigned char di_sha1[15] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
static const unsigned char di_md5[18] = { 0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10 };

/* prefix || hlen bytes of digest into out; returns the length. */
static size_t digestinfo(unsigned char *out, const unsigned char *prefix, size_t plen, size_t hlen)
{
	memcpy(out, prefix, plen);
	for (size_t i = 0; i < hlen; i++)
		out[plen + i] = (unsigned char)(0xa5 ^ i);
	return plen + hlen;
}

START_TEST(digestinfo_sha256_ok)
{
	unsigned char d[128];
	ck_assert(digestinfo_valid(d, digestinfo(d, di_sha256, sizeof di_sha256, 32)));
}
END_TEST

START_TEST(digestinfo_sha384_ok)
{
	unsigned char d[128];
	ck_assert(digestinfo_valid(d, digestinfo(d, di_sha384, sizeof di_sha384, 48)));
}
END_TEST

START_TEST(digestinfo_sha512_ok)
{
	unsigned char d[128];
	ck_assert(digestinfo_valid(d, digestinfo(d, di_sha512, sizeof di_sha512, 64)));
}
END_TEST

START_TEST(digestinfo_sha1_refused)
{
	unsigned char d[128];
	ck_assert(!digestinfo_valid(d, digestinfo(d, di_sha1, sizeof di_sha1, 20)));
}
END_TEST

START_TEST(digestinfo_md5_refused)
{
	unsigned char d[128];
	ck_assert(!digestinfo_valid(d, digestinfo(d, di_md5, sizeof di_md5, 16)));
}
END_TEST

START_TEST(digestinfo_right_prefix_wrong_length_refused)
{
	unsigned char d[128];
	size_t n = digestinfo(d, di_sha256, sizeof di_sha256, 33);
	ck_assert(!digestinfo_valid(d, n));     /* one byte too many */
	ck_assert(!digestinfo_valid(d, n - 2)); /* one byte too few */
	n = digestinfo(d, di_sha384, sizeof di_sha384, 32);
	ck_assert(!digestinfo_valid(d, n));     /* SHA-384 prefix, SHA-256 length */
	ck_assert(!digestinfo_valid(d, 0));
}
END_TEST

START_TEST(digestinfo_any_flipped_prefix_byte_refused)
{
	unsigned char d[128];
	size_t n = digestinfo(d, di_sha256, sizeof di_sha256, 32);
	for (size_t i = 0; i < sizeof di_sha256; i++) {
		d[i] ^= 0x01;
		ck_assert_msg(!digestinfo_valid(d, n), "flipped byte %zu accepted", i);
		d[i] ^= 0x01;
	}
	ck_assert(digestinfo_valid(d, n));
}
END_TEST

/* ---- eddsa_content_valid ---- */

static const char ctx_server[] = "TLS 1.3, server CertificateVerify";
static const char ctx_client[] = "TLS 1.3, client CertificateVerify";

/* 64 spaces || context || 0x00 || hash */
static size_t tls13_content(unsigned char *out, const char *ctx, size_t hlen)
{
	size_t clen = strlen(ctx) + 1;
	memset(out, 0x20, 64);
	memcpy(out + 64, ctx, clen);
	for (size_t i = 0; i < hlen; i++)
		out[64 + clen + i] = (unsigned char)(i + 0x40);
	return 64 + clen + hlen;
}

/* client_random || server_random || curve_type || group || point length || point */
static size_t tls12_content(unsigned char *out, unsigned char curve_type, size_t plen)
{
	for (size_t i = 0; i < 64; i++)
		out[i] = (unsigned char)(i * 3);
	out[64] = curve_type;
	out[65] = 0x00;
	out[66] = 0x1d;
	out[67] = (unsigned char)plen;
	for (size_t i = 0; i < plen; i++)
		out[68 + i] = (unsigned char)(i ^ 0x5a);
	return 68 + plen;
}

START_TEST(eddsa_tls13_sha256_ok)
{
	unsigned char d[256];
	ck_assert(eddsa_content_valid(d, tls13_content(d, ctx_server, 32)));
}
END_TEST

START_TEST(eddsa_tls13_sha384_ok)
{
	unsigned char d[256];
	ck_assert(eddsa_content_valid(d, tls13_content(d, ctx_server, 48)));
}
END_TEST

START_TEST(eddsa_tls13_hash_31_refused)
{
	unsigned char d[256];
	ck_assert(!eddsa_content_valid(d, tls13_content(d, ctx_server, 31)));
}
END_TEST

START_TEST(eddsa_tls13_hash_33_and_64_refused)
{
	unsigned char d[256];
	ck_assert(!eddsa_content_valid(d, tls13_content(d, ctx_server, 33)));
	ck_assert(!eddsa_content_valid(d, tls13_content(d, ctx_server, 64)));
}
END_TEST

START_TEST(eddsa_tls13_changed_space_refused)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_server, 32);
	for (size_t i = 0; i < 64; i++) {
		d[i] = 0x21;
		ck_assert_msg(!eddsa_content_valid(d, n), "space %zu changed, accepted", i);
		d[i] = 0x20;
	}
}
END_TEST

START_TEST(eddsa_tls13_client_context_refused)
{
	unsigned char d[256];
	ck_assert(!eddsa_content_valid(d, tls13_content(d, ctx_client, 32)));
}
END_TEST

START_TEST(eddsa_tls13_missing_context_nul_refused)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_server, 32);
	d[64 + strlen(ctx_server)] = 'X';
	ck_assert(!eddsa_content_valid(d, n));
}
END_TEST

START_TEST(eddsa_tls12_point_lengths_ok)
{
	static const size_t plens[] = { 32, 56, 65, 97, 133 };
	unsigned char d[256];
	for (size_t i = 0; i < sizeof plens / sizeof plens[0]; i++)
		ck_assert_msg(eddsa_content_valid(d, tls12_content(d, 3, plens[i])), "point length %zu", plens[i]);
}
END_TEST

START_TEST(eddsa_tls12_curve_type_not_3_refused)
{
	static const unsigned char types[] = { 0, 1, 2, 4, 0xff };
	unsigned char d[256];
	for (size_t i = 0; i < sizeof types; i++)
		ck_assert(!eddsa_content_valid(d, tls12_content(d, types[i], 32)));
}
END_TEST

START_TEST(eddsa_tls12_length_mismatch_refused)
{
	unsigned char d[256];
	size_t n = tls12_content(d, 3, 65);
	ck_assert(!eddsa_content_valid(d, n - 1));
	ck_assert(!eddsa_content_valid(d, n + 1));
}
END_TEST

START_TEST(eddsa_tls12_odd_point_length_refused)
{
	unsigned char d[256];
	ck_assert(!eddsa_content_valid(d, tls12_content(d, 3, 64)));
	ck_assert(!eddsa_content_valid(d, tls12_content(d, 3, 0)));
}
END_TEST

START_TEST(eddsa_short_content_refused)
{
	unsigned char d[256];
	tls12_content(d, 3, 0);
	ck_assert(!eddsa_content_valid(d, 67));
	ck_assert(!eddsa_content_valid(d, 0));
}
END_TEST

/* ---- kreq_check_sign ---- */

static void make_req(uint32_t op, uint32_t key, gnutls_sign_algorithm_t algo, const unsigned char *data, size_t len)
{
	memset(&req, 0, sizeof req);
	req.h.op = op;
	req.h.key = key;
	req.h.algo = (uint32_t)algo;
	req.h.len = (uint32_t)len;
	if (data)
		memcpy(req.data, data, len);
	else
		for (size_t i = 0; i < len; i++)
			req.data[i] = (unsigned char)i;
}

START_TEST(check_unknown_key_index_refused)
{
	make_req(KMSG_SIGN_HASH, 1, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, NULL, 32);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, NULL, 32);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 0));
}
END_TEST

START_TEST(check_second_key_index_used)
{
	const struct keyinfo keys[2] = { rsa_key, p256_key };
	make_req(KMSG_SIGN_HASH, 1, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, NULL, 32);
	ck_assert_ptr_null(kreq_check_sign(&req, keys, 2));
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, NULL, 32);
	ck_assert_refused(kreq_check_sign(&req, keys, 2));
}
END_TEST

START_TEST(check_rsa_raw_sha256_digestinfo_ok)
{
	unsigned char d[128];
	size_t n = digestinfo(d, di_sha256, sizeof di_sha256, 32);
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_RAW, d, n);
	ck_assert_ptr_null(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_rsa_raw_on_ecdsa_key_refused)
{
	unsigned char d[128];
	size_t n = digestinfo(d, di_sha256, sizeof di_sha256, 32);
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_RAW, d, n);
	ck_assert_refused(kreq_check_sign(&req, &p256_key, 1));
}
END_TEST

START_TEST(check_rsa_raw_sha1_digestinfo_refused)
{
	unsigned char d[128];
	size_t n = digestinfo(d, di_sha1, sizeof di_sha1, 20);
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_RAW, d, n);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_rsa_raw_bare_digest_refused)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_RAW, NULL, 36); /* TLS 1.0 MD5+SHA1 */
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_pss_sha256_32_bytes_ok)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, NULL, 32);
	ck_assert_ptr_null(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_pss_wrong_digest_length_refused)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, NULL, 48);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA512, NULL, 32);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_ecdsa_secp256r1_32_bytes_ok)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, NULL, 32);
	ck_assert_ptr_null(kreq_check_sign(&req, &p256_key, 1));
}
END_TEST

START_TEST(check_ecdsa_secp256r1_48_bytes_refused)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, NULL, 48);
	ck_assert_refused(kreq_check_sign(&req, &p256_key, 1));
}
END_TEST

START_TEST(check_algo_not_allowed_for_key_refused)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_RSA_SHA256, NULL, 32);
	ck_assert_refused(kreq_check_sign(&req, &p256_key, 1));
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_ECDSA_SECP384R1_SHA384, NULL, 48);
	ck_assert_refused(kreq_check_sign(&req, &p256_key, 1));
}
END_TEST

START_TEST(check_sign_data_on_rsa_key_refused)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_server, 32);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, d, n);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

START_TEST(check_sign_data_ed25519_good_shapes_ok)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_server, 32);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_ptr_null(kreq_check_sign(&req, &ed_key, 1));
	n = tls13_content(d, ctx_server, 48);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_ptr_null(kreq_check_sign(&req, &ed_key, 1));
	n = tls12_content(d, 3, 32);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_ptr_null(kreq_check_sign(&req, &ed_key, 1));
	n = tls12_content(d, 3, 133);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_ptr_null(kreq_check_sign(&req, &ed_key, 1));
}
END_TEST

START_TEST(check_sign_data_ed25519_bad_shape_refused)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_client, 32);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, d, n);
	ck_assert_refused(kreq_check_sign(&req, &ed_key, 1));
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED25519, NULL, 64);
	ck_assert_refused(kreq_check_sign(&req, &ed_key, 1));
}
END_TEST

START_TEST(check_sign_data_ed25519_wrong_algo_refused)
{
	unsigned char d[256];
	size_t n = tls13_content(d, ctx_server, 32);
	make_req(KMSG_SIGN_DATA, 0, GNUTLS_SIGN_EDDSA_ED448, d, n);
	ck_assert_refused(kreq_check_sign(&req, &ed_key, 1));
}
END_TEST

START_TEST(check_non_sign_op_refused)
{
	make_req(KMSG_HANDSHAKE_DONE, 0, GNUTLS_SIGN_UNKNOWN, NULL, 0);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
	make_req(KMSG_LOG, 0, GNUTLS_SIGN_UNKNOWN, NULL, 4);
	ck_assert_refused(kreq_check_sign(&req, &rsa_key, 1));
}
END_TEST

/* Was a bug (src/signreq.c, check_sign_hash): a KMSG_SIGN_HASH request with
 * algo EDDSA_ED25519 on an Ed25519 key and 64 bytes of data (the length of
 * gnutls_sign_get_hash_algorithm(ED25519) = SHA-512) passes kreq_check_sign,
 * although Ed25519 signs whole content only (KMSG_SIGN_DATA, checked by
 * eddsa_content_valid).  GnuTLS 3.7.9 refuses gnutls_privkey_sign_hash2 for
 * EdDSA (GNUTLS_E_INVALID_REQUEST), so today this is defence in depth, but the
 * validator is meant to be the parent's policy.  Regression test. */
START_TEST(check_sign_hash_on_ed25519_key_refused)
{
	make_req(KMSG_SIGN_HASH, 0, GNUTLS_SIGN_EDDSA_ED25519, NULL, 64);
	ck_assert_refused(kreq_check_sign(&req, &ed_key, 1));
}
END_TEST

/* ---- kmsg_summary_problem ---- */

START_TEST(summary_engine_fields_ok)
{
	ck_assert_ptr_null(kmsg_summary_problem("proto=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 sni=- resumed=no "
	                                        "handshake_ms=3 in=1 out=2 reason=\"handshake failed\""));
}
END_TEST

START_TEST(summary_parent_fields_refused)
{
	ck_assert_refused(kmsg_summary_problem("proto=TLSv1.3 status=0"));
	ck_assert_refused(kmsg_summary_problem("remote=192.0.2.1:25 proto=none"));
	ck_assert_refused(kmsg_summary_problem("proto=none mode=immediate"));
}
END_TEST

static Suite *signreq_suite(void)
{
	Suite *s = suite_create("signreq");
	TCase *tc;

	tc = tcase_create("kreq_decode");
	tcase_add_test(tc, decode_empty_message_is_short);
	tcase_add_test(tc, decode_header_minus_one_byte_is_short);
	tcase_add_test(tc, decode_declared_length_over_max_refused);
	tcase_add_test(tc, decode_declared_length_below_received_refused);
	tcase_add_test(tc, decode_declared_length_above_received_refused);
	tcase_add_test(tc, decode_nonzero_flags_refused);
	tcase_add_test(tc, decode_unknown_op_refused);
	tcase_add_loop_test(tc, decode_handshake_done_ok, 0, 2);
	tcase_add_loop_test(tc, decode_handshake_done_with_data_refused, 0, 2);
	tcase_add_loop_test(tc, decode_handshake_done_with_key_refused, 0, 2);
	tcase_add_loop_test(tc, decode_handshake_done_with_algo_refused, 0, 2);
	tcase_add_test(tc, decode_log_max_text_ok);
	tcase_add_test(tc, decode_log_text_over_max_refused);
	tcase_add_test(tc, decode_summary_max_text_ok);
	tcase_add_test(tc, decode_summary_text_over_max_refused);
	tcase_add_test(tc, decode_log_levels_0_to_2_ok);
	tcase_add_test(tc, decode_log_level_3_refused);
	tcase_add_test(tc, decode_summary_key_3_refused);
	tcase_add_test(tc, decode_summary_with_a_level_refused);
	tcase_add_test(tc, decode_log_with_algo_refused);
	tcase_add_test(tc, decode_sign_hash_ok_copies_header_and_data);
	tcase_add_test(tc, decode_sign_data_max_length_ok);
	suite_add_tcase(s, tc);

	tc = tcase_create("kmsg_summary_problem");
	tcase_add_test(tc, summary_engine_fields_ok);
	tcase_add_test(tc, summary_parent_fields_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("sign_algo_allowed");
	tcase_add_test(tc, rsa_key_allows_pkcs1_and_pss_rsae);
	tcase_add_test(tc, rsa_key_refuses_pss_pkcs1_sha1_ecdsa_eddsa);
	tcase_add_test(tc, p256_key_allows_ecdsa_any_curve_and_secp256r1);
	tcase_add_test(tc, p256_key_refuses_secp384r1_rsa_eddsa);
	tcase_add_test(tc, p384_key_allows_secp384r1_refuses_secp256r1);
	tcase_add_test(tc, ecdsa_key_on_other_curve_refuses_unknown_algo);
	tcase_add_test(tc, ed25519_key_allows_only_eddsa_ed25519);
	tcase_add_test(tc, unsupported_pk_allows_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("digestinfo_valid");
	tcase_add_test(tc, digestinfo_sha256_ok);
	tcase_add_test(tc, digestinfo_sha384_ok);
	tcase_add_test(tc, digestinfo_sha512_ok);
	tcase_add_test(tc, digestinfo_sha1_refused);
	tcase_add_test(tc, digestinfo_md5_refused);
	tcase_add_test(tc, digestinfo_right_prefix_wrong_length_refused);
	tcase_add_test(tc, digestinfo_any_flipped_prefix_byte_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("eddsa_content_valid");
	tcase_add_test(tc, eddsa_tls13_sha256_ok);
	tcase_add_test(tc, eddsa_tls13_sha384_ok);
	tcase_add_test(tc, eddsa_tls13_hash_31_refused);
	tcase_add_test(tc, eddsa_tls13_hash_33_and_64_refused);
	tcase_add_test(tc, eddsa_tls13_changed_space_refused);
	tcase_add_test(tc, eddsa_tls13_client_context_refused);
	tcase_add_test(tc, eddsa_tls13_missing_context_nul_refused);
	tcase_add_test(tc, eddsa_tls12_point_lengths_ok);
	tcase_add_test(tc, eddsa_tls12_curve_type_not_3_refused);
	tcase_add_test(tc, eddsa_tls12_length_mismatch_refused);
	tcase_add_test(tc, eddsa_tls12_odd_point_length_refused);
	tcase_add_test(tc, eddsa_short_content_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("kreq_check_sign");
	tcase_add_test(tc, check_unknown_key_index_refused);
	tcase_add_test(tc, check_second_key_index_used);
	tcase_add_test(tc, check_rsa_raw_sha256_digestinfo_ok);
	tcase_add_test(tc, check_rsa_raw_on_ecdsa_key_refused);
	tcase_add_test(tc, check_rsa_raw_sha1_digestinfo_refused);
	tcase_add_test(tc, check_rsa_raw_bare_digest_refused);
	tcase_add_test(tc, check_pss_sha256_32_bytes_ok);
	tcase_add_test(tc, check_pss_wrong_digest_length_refused);
	tcase_add_test(tc, check_ecdsa_secp256r1_32_bytes_ok);
	tcase_add_test(tc, check_ecdsa_secp256r1_48_bytes_refused);
	tcase_add_test(tc, check_algo_not_allowed_for_key_refused);
	tcase_add_test(tc, check_sign_data_on_rsa_key_refused);
	tcase_add_test(tc, check_sign_data_ed25519_good_shapes_ok);
	tcase_add_test(tc, check_sign_data_ed25519_bad_shape_refused);
	tcase_add_test(tc, check_sign_data_ed25519_wrong_algo_refused);
	tcase_add_test(tc, check_non_sign_op_refused);
	suite_add_tcase(s, tc);

	/* Tests for known bugs in src/ (see the comment above each). */
	tc = tcase_create("regressions");
	tcase_add_test(tc, check_sign_hash_on_ed25519_key_refused);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(signreq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
