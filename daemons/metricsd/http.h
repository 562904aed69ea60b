/*
 * http.h - the little HTTP/1.x that ncmta-metricsd speaks: one request
 * per connection, head only (a request line and header lines, nothing
 * after them is read), every byte from the network checked.
 */
#ifndef NCMTA_HTTP_H
#define NCMTA_HTTP_H

#include <stddef.h>

#define HTTP_MAX_HEAD 8192 /* request line and headers together */
#define HTTP_MAX_TARGET 2048 /* the request target */

/*
 * The answer to the request head in buf[0..len): 0 while the head is
 * incomplete (no empty line yet), else the HTTP status: 200 for GET
 * /metrics (a query string is allowed), 404 for another path, 405 for
 * another method, 505 for a version other than HTTP/1.x, 400 for
 * anything malformed, 431 once HTTP_MAX_HEAD octets hold no complete
 * head. A request line or header line that is already bad gives 400
 * before the head is complete.
 */
int http_request_status(const char *buf, size_t len);

/* "Not Found" for 404, and so on; "Error" for a status not used here. */
const char *http_reason(int status);

#endif
