/*
 * dsnparam.c - the DSN parameters of RFC 3461 that a sender gives at
 * submission (ncsendmail -N, -R, -V) and ncmta keeps and passes on:
 * NOTIFY as bits, RET as a number, and their text forms.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "dsnparam.h"
#include "util.h"

static const struct {
	const char *name;
	uint8_t bit;
} dsn_words[] = {{"NEVER", DSN_NOTIFY_NEVER}, {"SUCCESS", DSN_NOTIFY_SUCCESS},
    {"FAILURE", DSN_NOTIFY_FAILURE}, {"DELAY", DSN_NOTIFY_DELAY}};

int
dsn_notify_parse(const char *s)
{
	int bits = 0;
	size_t n, i;

	while (*s != '\0') {
		n = strcspn(s, ",");
		for (i = 0; i < 4; i++)
			if (n == strlen(dsn_words[i].name) &&
			    strncasecmp(s, dsn_words[i].name, n) == 0)
				break;
		if (i == 4)
			return -1;
		bits |= dsn_words[i].bit;
		s += n + (s[n] == ',');
	}
	/* NEVER stands alone (RFC 3461 section 4.1) */
	if (bits == 0 ||
	    ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER))
		return -1;
	return bits;
}

int
dsn_ret_parse(const char *s)
{
	if (strcasecmp(s, "FULL") == 0)
		return DSN_RET_FULL;
	if (strcasecmp(s, "HDRS") == 0)
		return DSN_RET_HDRS;
	return -1;
}

void
dsn_notify_text(uint8_t bits, char *buf, size_t len)
{
	size_t i;

	*buf = '\0';
	for (i = 0; i < 4; i++)
		if (bits & dsn_words[i].bit) {
			if (*buf != '\0')
				strlcat(buf, ",", len);
			strlcat(buf, dsn_words[i].name, len);
		}
}

int
dsn_envid_valid(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return 0;
	return n <= DSN_ENVID_MAX;
}

int
dsn_status_valid(const char *s)
{
	size_t n;
	int k;

	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	s += 2;
	for (k = 0; k < 2; k++) {
		n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return 0;
		s += n;
		if (k == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}
