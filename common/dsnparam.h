/*
 * dsnparam.h - RFC 3461 DSN parameters given at submission: NOTIFY
 * (bits), RET, and their parsing and text forms.
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
/* Whether s is an RFC 3463 status code of class 2, 4 or 5 ("5.1.1"). */
int dsn_status_valid(const char *s);
/* The bits as RFC 3461 writes them ("SUCCESS,FAILURE") into buf. */
void dsn_notify_text(uint8_t bits, char *buf, size_t len);

#endif
