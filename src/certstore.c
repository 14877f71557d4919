/* The certificate table and the choice of one certificate per connection.
 *
 * No file name is ever made from the client's SNI: the directory is read
 * before the connection's first byte and a certificate is found by the
 * names it carries (gnutls_x509_crt_check_hostname2: case-insensitive, a
 * wildcard only as the whole first label), so a name like "../x" can only
 * fail to match. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gnutls/ocsp.h>

#include "certstore.h"
#include "fds.h"
#include "log.h"

/* A response without nextUpdate is trusted this long after thisUpdate. */
#define OCSP_NO_NEXT_UPDATE_SECS (3 * 86400)

static const char *key_facts(struct keyinfo *key, gnutls_pubkey_t pub)
{
	key->pk = (gnutls_pk_algorithm_t)gnutls_pubkey_get_pk_algorithm(pub, &key->bits);
	if (key->pk == GNUTLS_PK_ECDSA && gnutls_pubkey_export_ecc_raw2(pub, &key->curve, NULL, NULL, 0) < 0)
		return "unreadable EC key";
	if (key->pk != GNUTLS_PK_RSA && key->pk != GNUTLS_PK_ECDSA && key->pk != GNUTLS_PK_EDDSA_ED25519)
		return "key type not supported (RSA, ECDSA or Ed25519)";
	if (key->pk == GNUTLS_PK_RSA && key->bits < 2048)
		return "RSA key shorter than 2048 bits";
	return NULL;
}

/* The leaf: the certificate that issued none of the others.  GnuTLS's
 * sort takes the first certificate of a file as the leaf and orders the
 * rest, so a file with the intermediate first (C09) is put right here. */
static unsigned leaf_index(gnutls_x509_crt_t *crts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned j = 0;
		while (j < n && (j == i || !gnutls_x509_crt_check_issuer(crts[j], crts[i])))
			j++;
		if (j == n)
			return i;
	}
	return 0;
}

static const char *import_crts(struct certentry *e, gnutls_x509_crt_t *crts, unsigned n)
{
	unsigned leaf = leaf_index(crts, n);
	gnutls_x509_crt_t first = crts[0];

	if (n > CHAIN_MAX)
		return "more than 16 certificates in the chain";
	crts[0] = crts[leaf];
	crts[leaf] = first;
	e->npcerts = n;
	if (gnutls_pcert_import_x509_list(e->pcerts, crts, &e->npcerts, GNUTLS_X509_CRT_LIST_SORT) < 0)
		return "unusable certificate chain";
	e->leaf = crts[0]; /* kept, not parsed again: the caller frees the rest */
	crts[0] = NULL;
	return NULL;
}

static const char *import_chain(struct certentry *e)
{
	gnutls_datum_t pem = { NULL, 0 };
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	const char *problem;
	int ret = gnutls_load_file(e->certfile, &pem);

	if (ret >= 0)
		ret = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(pem.data);
	if (ret == GNUTLS_E_BASE64_DECODING_ERROR || ret == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return "no PEM certificate in it";
	if (ret < 0)
		return gnutls_strerror(ret);
	problem = import_crts(e, crts, n);
	for (unsigned i = 0; i < n; i++)
		if (crts[i])
			gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return problem;
}

static bool same_subject(gnutls_x509_crt_t a, gnutls_x509_crt_t b)
{
	gnutls_datum_t da = { NULL, 0 }, db = { NULL, 0 };
	bool same = gnutls_x509_crt_get_raw_dn(a, &da) == 0 && gnutls_x509_crt_get_raw_dn(b, &db) == 0 &&
	            da.size == db.size && memcmp(da.data, db.data, da.size) == 0;

	gnutls_free(da.data);
	gnutls_free(db.data);
	return same;
}

const char *certstore_add(struct certstore *cs, const char *certfile, const char *keyfile)
{
	struct certentry *e = &cs->e[cs->n];
	const char *problem;

	if (cs->n == CERTSTORE_MAX)
		return "too many certificates";
	if ((problem = fds_file_problem(certfile)))
		return problem;
	memset(e, 0, sizeof *e);
	e->certfile = certfile;
	e->keyfile = keyfile;
	if ((problem = import_chain(e)) || (problem = key_facts(&cs->keys[cs->n], e->pcerts[0].pubkey)))
		return problem;
	e->default_alt = cs->n > 0 && same_subject(e->leaf, cs->e[0].leaf);
	if (gnutls_x509_crt_get_expiration_time(e->leaf) < time(NULL))
		log_error("certificate file %s: the certificate has expired (served anyway)", certfile);
	cs->n++;
	return NULL;
}

static int is_certificate_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".crt") == 0;
}

static char *path_in(const char *dir, const char *name, size_t stem, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%.*s%s", dir, (int)stem, name, suffix) < 0)
		return NULL;
	return p;
}

const char *certstore_add_dir(struct certstore *cs, const char *dir, const char **file)
{
	struct dirent **names;
	const char *problem = NULL;
	int n = scandir(dir, &names, is_certificate_name, alphasort);

	*file = dir;
	if (n < 0)
		return fds_open_problem(errno);
	if (n == 0)
		problem = "no NAME.crt in it";
	for (int i = 0; i < n; i++) {
		size_t stem = strlen(names[i]->d_name) - 4;
		char *crt = path_in(dir, names[i]->d_name, stem, ".crt"), *key = path_in(dir, names[i]->d_name, stem, ".key");
		if (!problem && (!crt || !key))
			problem = "out of memory";
		if (!problem && (problem = certstore_add(cs, crt, key)))
			*file = crt;
		free(names[i]);
	}
	free(names);
	return problem;
}

static time_t ocsp_expiry(gnutls_ocsp_resp_t resp)
{
	time_t this_update, next_update;

	if (gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, NULL, &this_update, &next_update, NULL, NULL) < 0)
		return 0;
	return next_update != (time_t)-1 ? next_update : this_update + OCSP_NO_NEXT_UPDATE_SECS;
}

/* Returns NULL and fills e->ocsp, or why the response is not stapled. */
static const char *read_ocsp(struct certentry *e, const char *file)
{
	gnutls_ocsp_resp_t resp;
	gnutls_datum_t der;
	const char *why = NULL;
	time_t exp;

	if (gnutls_load_file(file, &der) < 0)
		return "unreadable";
	if (gnutls_ocsp_resp_init(&resp) < 0) {
		gnutls_free(der.data);
		return "out of memory";
	}
	if (gnutls_ocsp_resp_import(resp, &der) < 0)
		why = "not a DER OCSP response";
	else if (gnutls_ocsp_resp_check_crt(resp, 0, e->leaf) < 0)
		why = "the response is for another certificate";
	else if ((exp = ocsp_expiry(resp)) <= time(NULL))
		why = "the response has expired";
	gnutls_ocsp_resp_deinit(resp);
	if (why) {
		gnutls_free(der.data);
		return why;
	}
	e->ocsp.response = der;
	e->ocsp.exptime = exp;
	e->nocsp = 1;
	return NULL;
}

void certstore_load_ocsp(struct certstore *cs)
{
	for (unsigned i = 0; i < cs->n; i++) {
		char *file;
		const char *why;
		if (asprintf(&file, "%s.ocsp", cs->e[i].certfile) < 0)
			continue;
		if (!fds_file_problem(file) && (why = read_ocsp(&cs->e[i], file)))
			log_error("OCSP response %s: %s (not stapled)", file, why);
		free(file);
	}
}

void certstore_normalise_name(char *sni)
{
	size_t n = strlen(sni);

	if (n && sni[n - 1] == '.')
		sni[--n] = '\0';
	for (char *p = sni; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static bool names(const struct certentry *e, const char *sni)
{
	return gnutls_x509_crt_check_hostname2(e->leaf, sni, 0) != 0;
}

bool certstore_knows(const struct certstore *cs, const char *sni)
{
	for (unsigned i = 0; i < cs->n; i++)
		if (names(&cs->e[i], sni))
			return true;
	return false;
}

/* ECDSA first: cheap to sign, most clients; RSA last, for those that need it. */
static int preference(gnutls_pk_algorithm_t pk)
{
	return pk == GNUTLS_PK_ECDSA ? 0 : pk == GNUTLS_PK_EDDSA_ED25519 ? 1 : 2;
}

unsigned certstore_choose(const struct certstore *cs, const char *sni,
                          bool (*can_use)(const struct keyinfo *, void *), void *arg)
{
	bool by_name = sni && certstore_knows(cs, sni);
	int fallback = -1;

	for (int rank = 0; rank < 3; rank++)
		for (unsigned i = 0; i < cs->n; i++) {
			if (preference(cs->keys[i].pk) != rank ||
			    (by_name ? !names(&cs->e[i], sni) : i != 0 && !cs->e[i].default_alt))
				continue;
			if (can_use(&cs->keys[i], arg))
				return i;
			if (fallback < 0)
				fallback = (int)i;
		}
	return fallback < 0 ? 0 : (unsigned)fallback;
}
