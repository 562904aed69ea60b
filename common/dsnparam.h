/*
 * dsnparam.h - RFC 3461 DSN parameters given at submission: NOTIFY
 * (bits), RET, ENVID and ORCPT, their parsing and text forms, and the
 * xtext encoding they travel in over SMTP.
 */
#ifndef NCMTA_DSNPARAM_H
#define NCMTA_DSNPARAM_H

#include <stddef.h>
#include <stdint.h>

#define DSN_NOTIFY_NEVER 0x1
#define DSN_NOTIFY_SUCCESS 0x2
#define DSN_NOTIFY_FAILURE 0x4
#define DSN_NOTIFY_DELAY 0x8
#define DSN_RET_FULL 1
#define DSN_RET_HDRS 2

/* "SUCCESS,DELAY" / "never" to DSN_NOTIFY_* bits; -1 if malformed. */
int dsn_notify_parse(const char *);
/* "FULL" / "hdrs" to DSN_RET_*; -1 if neither. */
int dsn_ret_parse(const char *);
/* An ENVID as ncmta takes it: "" (none), or 1 to DSN_ENVID_MAX
 * printable ASCII octets (0x21-0x7e): no control character, no space. */
#define DSN_ENVID_MAX 100
int dsn_envid_valid(const char *);
/*
 * An original recipient (ORCPT) as ncmta keeps it: "addr-type;address",
 * xtext decoded ("rfc822;a+b@example.com"). The type is 1 to
 * DSN_ORCPT_TYPE_MAX letters, digits and '-' (the atoms address types
 * are named with: rfc822, utf-8, x400); the address is at least one
 * octet of printable US-ASCII (space included) or well-formed UTF-8 --
 * no control character, so no CR or LF. At most DSN_ORCPT_MAX octets in
 * all (RFC 3461 section 4.2). "" (none) is not valid here.
 */
#define DSN_ORCPT_MAX 500
#define DSN_ORCPT_TYPE_MAX 32
int dsn_orcpt_valid(const char *);
/*
 * RFC 3461 xtext. dsn_xtext_decode: in decoded into out (room for max
 * octets and a NUL); -1 when malformed (a bad "+HH", an octet outside
 * 0x21-0x7e or "=" unencoded), empty, longer than max or decoding to a
 * control character. dsn_xtext_encode: "+HH" for '+', '=' and every
 * octet outside 0x21-0x7e, into out of len octets; -1 (out empty) when
 * it does not fit.
 */
int dsn_xtext_decode(const char *in, char *out, size_t max);
int dsn_xtext_encode(const char *in, char *out, size_t len);
/* Whether s is an RFC 3463 status code of class 2, 4 or 5 ("5.1.1"). */
int dsn_status_valid(const char *s);
/* The bits as RFC 3461 writes them ("SUCCESS,FAILURE") into buf. */
void dsn_notify_text(uint8_t bits, char *buf, size_t len);

#endif
