/*
 * http.c - the request head parser of ncmta-metricsd (see http.h). It
 * accepts what RFC 9112 calls a request-line and field lines, each
 * ended by CRLF or a bare LF; obsolete line folding, bare CR, NUL and
 * other control characters are refused.
 */
#include <string.h>

#include "http.h"

/* RFC 9110 tchar. */
static int
http_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line at p (its LF), or NULL when it is not complete. */
static const char *
http_eol(const char *p, const char *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* The length of the line p..lf without its CRLF or LF. */
static size_t
http_linelen(const char *p, const char *lf)
{
	return (size_t)(lf - p) - (lf > p && lf[-1] == '\r');
}

/* 0, or the status a complete request line gets; *get: the method is
 * GET, *metrics: the path is /metrics. */
static int
http_request_line(const char *p, size_t n, int *get, int *metrics)
{
	size_t m, t;
	const char *v;

	for (m = 0; m < n && http_tchar((unsigned char)p[m]); m++)
		;
	if (m == 0 || m > 32 || m >= n || p[m] != ' ')
		return 400;
	*get = m == 3 && memcmp(p, "GET", 3) == 0;
	p += m + 1;
	n -= m + 1;
	for (t = 0; t < n && p[t] != ' '; t++)
		if ((unsigned char)p[t] <= 0x20 || (unsigned char)p[t] >= 0x7f)
			return 400;
	if (t == 0 || t >= n || t > HTTP_MAX_TARGET || p[0] != '/')
		return 400;
	*metrics =
	    (t == 8 || (t > 8 && p[8] == '?')) && memcmp(p, "/metrics", 8) == 0;
	v = p + t + 1;
	n -= t + 1;
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' ||
	    v[5] > '9' || v[7] < '0' || v[7] > '9')
		return 400;
	return v[5] == '1' ? 0 : 505;
}

/* 0, or 400 for a bad field line p[0..n). */
static int
http_field_line(const char *p, size_t n)
{
	size_t i, name;

	for (name = 0; name < n && http_tchar((unsigned char)p[name]); name++)
		;
	if (name == 0 || name >= n || p[name] != ':')
		return 400;
	for (i = name + 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 400;
	}
	return 0;
}

int
http_request_status(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *lf;
	int get = 0, metrics = 0, st, first = 1;
	size_t n;

	if (len > HTTP_MAX_HEAD)
		len = HTTP_MAX_HEAD, end = buf + len;
	for (;;) {
		if ((lf = http_eol(p, end)) == NULL)
			return len >= HTTP_MAX_HEAD ? 431 : 0;
		n = http_linelen(p, lf);
		if (memchr(p, '\r', n) != NULL || memchr(p, '\0', n) != NULL)
			return 400; /* bare CR or NUL inside a line */
		if (first) {
			if ((st = http_request_line(p, n, &get, &metrics)) != 0)
				return st;
			first = 0;
		} else if (n == 0)
			break; /* the empty line: the head is complete */
		else if ((st = http_field_line(p, n)) != 0)
			return st;
		p = lf + 1;
	}
	if (!get)
		return 405;
	return metrics ? 200 : 404;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}
