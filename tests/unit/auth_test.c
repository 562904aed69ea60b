/*
 * auth_test.c - SMTP AUTH client pieces: the mechanism chosen from an
 * EHLO offer, and the PLAIN and LOGIN responses (RFC 4616, RFC 4954).
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "daemons/smtp/auth.h"

int
main(void)
{
	char *r;

	is_int(auth_mechs_parse("PLAIN LOGIN"),
	    AUTH_MECH_PLAIN | AUTH_MECH_LOGIN, "PLAIN and LOGIN offered");
	is_int(auth_mechs_parse("CRAM-MD5 login"), AUTH_MECH_LOGIN,
	    "case-insensitive, unknown ones skipped");
	is_int(auth_mechs_parse("=PLAIN"), AUTH_MECH_PLAIN, "old AUTH= form");
	is_int(auth_mechs_parse("PLAINX LOGINS XOAUTH2"), 0,
	    "only whole words count");
	is_int(auth_mechs_parse(""), 0, "nothing offered");
	is_int(auth_mech_pick(AUTH_MECH_PLAIN | AUTH_MECH_LOGIN),
	    AUTH_MECH_PLAIN, "PLAIN preferred");
	is_int(auth_mech_pick(AUTH_MECH_LOGIN), AUTH_MECH_LOGIN,
	    "LOGIN when it is all there is");
	is_int(auth_mech_pick(0), 0, "no usable mechanism");
	is_str(auth_mech_name(AUTH_MECH_LOGIN), "LOGIN", "name of LOGIN");

	r = auth_plain_response("tim", "tanstaaftanstaaf");
	is_str(r, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "RFC 4616 example");
	auth_wipe_free(r);
	r = auth_plain_response("user@example.com", "p:w d");
	is_str(r, "AHVzZXJAZXhhbXBsZS5jb20AcDp3IGQ=",
	    "colon and space in the password");
	auth_wipe_free(r);
	r = auth_base64("Username:", 9);
	is_str(r, "VXNlcm5hbWU6", "LOGIN's base64");
	auth_wipe_free(r);
	r = auth_base64("", 0);
	is_str(r, "", "empty string");
	auth_wipe_free(r);
	auth_wipe_free(NULL); /* a response never made: nothing to do */
	return done_testing();
}
