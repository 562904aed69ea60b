/*
 * smtpreply.h - parse SMTP reply lines (RFC 5321 4.2) into code,
 * enhanced status (RFC 3463) and text, one line at a time, so multi-line
 * replies are assembled without trusting the server. Pure, unit-tested.
 */
#ifndef NCMTA_SMTPREPLY_H
#define NCMTA_SMTPREPLY_H

#include <stddef.h>

#define SMTP_REPLY_MAX 4096 /* bytes of reply text kept */
#define SMTP_REPLY_MAXLINES 200 /* more lines than this is malformed */

struct smtp_reply {
	int code; /* 0 until the first line */
	char dsn[16]; /* "2.0.0" from the first line, or "" */
	char text[SMTP_REPLY_MAX]; /* lines joined with ' ', code included */
	size_t textlen;
	int complete; /* last line seen */
	int nlines;
};

void smtp_reply_init(struct smtp_reply *);
/*
 * Feed one line without CRLF. 0: more lines expected or complete;
 * -1: malformed (bad code, code changed between lines, junk, a line
 * after the last one, too many lines). Text beyond SMTP_REPLY_MAX - 1
 * bytes is dropped; control and non-ASCII octets become '?'.
 */
int smtp_reply_line(struct smtp_reply *, const char *, size_t);
/* The reply's DSN, or the default for its code when the server gave none
 * ("2.0.0", "4.0.0" for 3xx and 4xx, "5.0.0"). */
const char *smtp_reply_dsn(const struct smtp_reply *);

#endif
