/* libFuzzer harness: the 'Y' reply / start block (src/ucspienv.c).  The
 * input is used twice:
 *  - as a received block: envblock_parse must accept it only if encoding
 *    the entries it reports gives back the same bytes;
 *  - as name/value strings (alternating, split at NUL bytes) for the
 *    encoder, added over and over until the block is full: whatever
 *    envblock_add accepts, the parser must read back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ucspienv.h"

static void broken(const char *what)
{
	fprintf(stderr, "fuzz-ucspienv: %s\n", what);
	abort();
}

static void reencode(const char *name, const char *value, void *arg)
{
	if (envblock_add(arg, name, value) < 0)
		broken("the parser reported an entry the encoder refuses");
}

static void parse_then_encode(const char *buf, size_t len)
{
	static struct envblock again;
	int n;

	if (len >= sizeof again.buf) /* more than the encoder ever makes */
		return;
	envblock_init(&again);
	n = envblock_parse(buf, len, reencode, &again);
	if (n < 0)
		return;
	envblock_finish(&again);
	if ((unsigned)n != again.count || again.len != len || memcmp(again.buf, buf, len) != 0)
		broken("a parsed block does not encode back to the same bytes");
}

struct expect {
	const struct envblock *sent;
	size_t pos; /* where the next entry starts in sent->buf */
};

static void compare_entry(const char *name, const char *value, void *arg)
{
	struct expect *e = arg;
	const char *entry = e->sent->buf + e->pos;
	size_t nlen = strlen(name);

	if (strncmp(entry, name, nlen) != 0 || entry[nlen] != '=' || strcmp(entry + nlen + 1, value) != 0)
		broken("the parser read back a different entry");
	e->pos += strlen(entry) + 1;
}

/* Add the name/value pairs in strings once; returns how many were taken. */
static unsigned add_pairs(struct envblock *b, const char *strings, size_t len)
{
	const char *name = NULL;
	unsigned added = 0;

	for (const char *p = strings; p < strings + len; p += strlen(p) + 1) {
		if (!name) {
			name = p;
			continue;
		}
		added += envblock_add(b, name, p) == 0;
		name = NULL;
	}
	return added;
}

static void encode_then_parse(const char *buf, size_t len)
{
	static struct envblock b;
	char strings[8192];
	struct expect e = { &b, 0 };

	if (len >= sizeof strings)
		return;
	memcpy(strings, buf, len);
	strings[len] = '\0';
	envblock_init(&b);
	/* again and again until the block is full: its edge is where bugs are */
	while (add_pairs(&b, strings, len))
		;
	envblock_finish(&b);
	if (b.len > sizeof b.buf)
		broken("the encoder overran its buffer");
	if (envblock_parse(b.buf, b.len, compare_entry, &e) != (int)b.count)
		broken("the parser rejects or miscounts what the encoder made");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_then_encode((const char *)data, size);
	encode_then_parse((const char *)data, size);
	return 0;
}
