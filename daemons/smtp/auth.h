/*
 * auth.h - SMTP AUTH (RFC 4954) client pieces that need no connection:
 * which mechanism to use from the server's EHLO offer, and the encoded
 * responses. Callers wipe what these return once it is sent.
 */
#ifndef NCMTA_SMTP_AUTH_H
#define NCMTA_SMTP_AUTH_H

#include <stddef.h>

#define AUTH_MECH_PLAIN 0x1
#define AUTH_MECH_LOGIN 0x2

/* The mechanisms we support among "PLAIN LOGIN CRAM-MD5 ..." */
unsigned auth_mechs_parse(const char *offer);
/* PLAIN when offered, else LOGIN, else 0. */
unsigned auth_mech_pick(unsigned offered);
const char *auth_mech_name(unsigned mech);
/* base64 of "\0user\0password" (RFC 4616), malloc'd. */
char *auth_plain_response(const char *user, const char *password);
/* base64 of s, malloc'd. */
char *auth_base64(const char *s, size_t len);
/* Wipe and free a response. */
void auth_wipe_free(char *);

#endif
