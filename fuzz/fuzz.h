/*
 * fuzz.h - what every libFuzzer target in fuzz/ shares: invariant checks
 * that abort with the reason (libFuzzer then keeps the input), a quiet
 * log, and a reader that takes typed values off the front of the input.
 * Targets are built by fuzz/build.mk and run by fuzz/run.
 */
#ifndef NCMTA_FUZZ_H
#define NCMTA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* An invariant of the code under test: a violation is a finding. */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
			    "%s:%d: invariant failed: %s: ", __FILE__,         \
			    __LINE__, #cond);                                  \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* Log lines of the code under test go nowhere (one call per process). */
static inline void
fuzz_quiet_log(void)
{
	static int done;

	if (!done) {
		log_init("fuzz", "/dev/null", "mail");
		done = 1;
	}
}

/* The input, read from the front; reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->len > 0) {
		v = in->p[0];
		in->p++;
		in->len--;
	}
	return v;
}

static inline uint32_t
fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

/* The bytes up to the next NUL (or the end) as a malloc'd string. */
static inline char *
fuzz_str(struct fuzz_in *in)
{
	const uint8_t *nul = memchr(in->p, '\0', in->len);
	size_t n = nul != NULL ? (size_t)(nul - in->p) : in->len;
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n + (nul != NULL);
	in->len -= n + (nul != NULL);
	return s;
}

/* A NUL-terminated copy of all of the input (NULs inside stay). */
static inline char *
fuzz_cstr(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* Whether s[0..n) holds an octet below 0x20 or 0x7f. */
static inline int
fuzz_has_control(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* How many times c occurs in s[0..n). */
static inline size_t
fuzz_count(const char *s, size_t n, char c)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += s[i] == c;
	return k;
}

#endif
