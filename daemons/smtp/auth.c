/*
 * auth.c - SMTP AUTH (RFC 4954) client pieces: the mechanism choice from
 * the EHLO offer and the base64 responses for PLAIN (RFC 4616) and LOGIN.
 * Everything that holds a password is wiped before it is freed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "auth.h"
#include "util.h"

unsigned
auth_mechs_parse(const char *offer)
{
	unsigned m = 0;
	size_t n;

	while (*offer != '\0') {
		offer += strspn(offer, " =");
		n = strcspn(offer, " ");
		if (n == 5 && strncasecmp(offer, "PLAIN", 5) == 0)
			m |= AUTH_MECH_PLAIN;
		else if (n == 5 && strncasecmp(offer, "LOGIN", 5) == 0)
			m |= AUTH_MECH_LOGIN;
		offer += n;
	}
	return m;
}

unsigned
auth_mech_pick(unsigned offered)
{
	if (offered & AUTH_MECH_PLAIN)
		return AUTH_MECH_PLAIN;
	if (offered & AUTH_MECH_LOGIN)
		return AUTH_MECH_LOGIN;
	return 0;
}

const char *
auth_mech_name(unsigned mech)
{
	return mech == AUTH_MECH_PLAIN ? "PLAIN"
	    : mech == AUTH_MECH_LOGIN  ? "LOGIN"
	                               : "none";
}

char *
auth_base64(const char *s, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock(
	    (unsigned char *)out, (const unsigned char *)s, (int)len);
	return out;
}

char *
auth_plain_response(const char *user, const char *password)
{
	size_t ul = strlen(user), pl = strlen(password), len = ul + pl + 2;
	char *raw = xmalloc(len), *out;

	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, password, pl);
	out = auth_base64(raw, len);
	explicit_bzero(raw, len);
	free(raw);
	return out;
}

void
auth_wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
