/*
 * dsnparam.c - the DSN parameters of RFC 3461 that a sender gives at
 * submission (ncsendmail -N, -R, -V; NOTIFY, RET, ENVID and ORCPT over
 * SMTP) and ncmta keeps and passes on: NOTIFY as bits, RET as a number,
 * their text forms, what an ENVID and an ORCPT may hold, and xtext.
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

/* What an ORCPT's address type may be made of. */
static const char dsn_type_chars[] = "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-";

int
dsn_orcpt_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t type = strspn(s, dsn_type_chars), n;

	if (type == 0 || type > DSN_ORCPT_TYPE_MAX || s[type] != ';' ||
	    s[type + 1] == '\0' || strlen(s) > DSN_ORCPT_MAX)
		return 0;
	for (p += type + 1; *p != '\0'; p += n)
		if ((n = *p >= 0x20 && *p <= 0x7e ? 1 : utf8_len(p)) == 0)
			return 0;
	return 1;
}

static int
dsn_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
dsn_xtext_decode(const char *in, char *out, size_t max)
{
	size_t n = 0;
	int hi, lo;
	unsigned char c;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c == '+') {
			if ((hi = dsn_hex(in[1])) < 0 ||
			    (lo = dsn_hex(in[2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			in += 2;
		} else if (c < 0x21 || c > 0x7e || c == '=')
			return -1;
		if (c < 0x20 || c == 0x7f || n >= max)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

int
dsn_xtext_encode(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char c;

	if (len == 0)
		return -1;
	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=') {
			if (o + 1 >= len)
				goto full;
			out[o++] = (char)c;
			continue;
		}
		if (o + 3 >= len)
			goto full;
		out[o++] = '+';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0xf];
	}
	out[o] = '\0';
	return 0;
full:
	*out = '\0';
	return -1;
}
