/*
 * stsfetch.c - an MTA-STS policy file over HTTPS (RFC 8461 3.3): the
 * addresses of mta-sts.DOMAIN through the resolver's own lookups, each
 * tried in turn with TLS (SNI, a certificate that chains to the CA bundle
 * read before the chroot and names the host), then one HTTP/1.1 GET with
 * libevent's client. No redirect is followed; only a 200 with a
 * text/plain body of at most MTASTS_POLICY_MAX octets is a policy file;
 * the whole fetch ends within smtp_mta_sts_timeout. Whatever the peer
 * sends, the caller hears exactly one result with a clear error.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mtasts.h"
#include "proto.h"
#include "resolver.h"
#include "util.h"

#define STSFETCH_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define STSFETCH_PATH "/.well-known/mta-sts.txt"
#define STSFETCH_MAX_ADDRS 8 /* addresses of the policy host tried */
#define STSFETCH_HEADERS_MAX 16384 /* octets of response headers */
#define STSFETCH_WHY_MAX 256

static struct {
	SSL_CTX *ctx; /* made before the chroot: it holds the CA bundle */
} sf;

struct stsfetch {
	char host[DNS_NAME_BUF]; /* mta-sts.DOMAIN */
	uint16_t port;
	int64_t timeout;
	stsfetch_cb *cb;
	void *arg;
	int done; /* cb was called */
	int dns_pending; /* address lookups not answered yet */
	char addrs[STSFETCH_MAX_ADDRS][INET6_ADDRSTRLEN];
	size_t naddrs;
	size_t tried; /* addrs[tried - 1] is the one in use */
	char dns_why[128]; /* why a lookup failed (dns_result.why) */
	struct event *deadline;
	struct event *step; /* the next move, outside libevent's callbacks */
	/* the attempt in flight */
	struct evhttp_connection *evcon;
	SSL *ssl; /* owned by evcon's bufferevent */
	/* kept here: libevent may clear the TLS object once it fails */
	int tls_up; /* the handshake completed */
	long verify_err; /* the first certificate error, X509_V_OK none */
	int over; /* the request's callback came */
	int got_headers;
	int http_error; /* enum evhttp_request_error + 1; 0: none */
	char why[STSFETCH_WHY_MAX]; /* the first offence in the response */
	char *body; /* a good policy file */
	size_t len;
};

void
stsfetch_init(const char *cafile)
{
	const char *file = *cafile ? cafile : STSFETCH_SYSTEM_CA;

	if ((sf.ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(sf.ctx, TLS1_2_VERSION))
		fatalx("MTA-STS: cannot make a TLS context");
	/* RFC 8461 3.3: a certificate valid for the policy host, or no
	 * policy; the handshake stops at a bad one */
	SSL_CTX_set_verify(sf.ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(sf.ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_load_verify_locations(sf.ctx, file, NULL) != 1) {
		log_warnx("MTA-STS: CA file %s: %s; no policy host will "
		          "verify",
		    file, ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
	}
}

/* The chain's first error, kept for the verdict (attempt_status). */
static int
tls_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl =
	    X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct stsfetch *f = SSL_get_app_data(ssl);

	if (!ok && f != NULL && f->verify_err == X509_V_OK)
		f->verify_err = X509_STORE_CTX_get_error(x);
	return ok;
}

static void
tls_info(const SSL *ssl, int where, int ret)
{
	struct stsfetch *f = SSL_get_app_data(ssl);

	(void)ret;
	if (f != NULL && (where & SSL_CB_HANDSHAKE_DONE))
		f->tls_up = 1;
}

static void
fetch_free(struct stsfetch *f)
{
	event_free(f->deadline);
	event_free(f->step);
	free(f->body);
	free(f);
}

static void
attempt_end(struct stsfetch *f)
{
	/* the TLS object may outlive f (libevent frees it later) */
	if (f->ssl != NULL) {
		SSL_set_info_callback(f->ssl, NULL);
		SSL_set_app_data(f->ssl, NULL);
	}
	if (f->evcon != NULL)
		evhttp_connection_free(f->evcon); /* and its TLS object */
	f->evcon = NULL;
	f->ssl = NULL;
	ERR_clear_error();
}

/* The one result; f goes once its address lookups are answered too. */
static void
fetch_deliver(struct stsfetch *f, int status, const char *why)
{
	char error[STSFETCH_WHY_MAX + DNS_NAME_BUF + 64];

	if (f->tried > 0)
		snprintf(error, sizeof(error),
		    "policy fetch from %s[%s]:%u: %s", f->host,
		    f->addrs[f->tried - 1], f->port, why);
	else
		snprintf(error, sizeof(error), "policy fetch from %s: %s",
		    f->host, why);
	attempt_end(f);
	event_del(f->deadline);
	event_del(f->step);
	f->done = 1;
	f->cb(f->arg, status, status == STS_S_FETCHED ? f->body : "",
	    status == STS_S_FETCHED ? f->len : 0,
	    status == STS_S_FETCHED ? "" : error);
	if (f->dns_pending == 0)
		fetch_free(f);
}

static void
fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct stsfetch *f = arg;
	char why[64];

	(void)fd;
	(void)what;
	snprintf(
	    why, sizeof(why), "timed out after %llds", (long long)f->timeout);
	fetch_deliver(f, STS_S_FETCH_FAIL, why);
}

/* Anything but printable ASCII in what the server sent becomes '?'. */
static void
printable(char *out, size_t len, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < len && in[i] != '\0'; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

/* "text/plain", parameters allowed (RFC 8461 3.3). */
static int
content_type_ok(const char *ct)
{
	size_t n;

	ct += strspn(ct, " \t");
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == 10 && strncasecmp(ct, "text/plain", 10) == 0;
}

/* The status line and headers: anything but 200 and text/plain ends
 * the response here (a redirect is not followed, RFC 8461 3.3). */
static int
response_headers(struct evhttp_request *req, void *arg)
{
	struct stsfetch *f = arg;
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	int code = evhttp_request_get_response_code(req);
	char shown[64];

	f->got_headers = 1;
	if (code != 200) {
		snprintf(f->why, sizeof(f->why), "HTTP status %d%s", code,
		    code >= 300 && code < 400 ? " (redirects are not followed)"
		                              : "");
		return -1;
	}
	if (ct == NULL) {
		snprintf(f->why, sizeof(f->why), "no Content-Type");
		return -1;
	}
	if (!content_type_ok(ct)) {
		printable(shown, sizeof(shown), ct);
		snprintf(f->why, sizeof(f->why),
		    "Content-Type %s is not text/plain", shown);
		return -1;
	}
	return 0;
}

static void
response_error(enum evhttp_request_error err, void *arg)
{
	struct stsfetch *f = arg;

	f->http_error = (int)err + 1;
}

/* The request's end, good or bad: judged in fetch_step. */
static void
response_done(struct evhttp_request *req, void *arg)
{
	struct stsfetch *f = arg;
	struct evbuffer *in;
	size_t len;

	if (f->over)
		return;
	f->over = 1;
	event_active(f->step, 0, 0);
	if (req == NULL || evhttp_request_get_response_code(req) != 200 ||
	    *f->why != '\0' || f->http_error != 0)
		return;
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > MTASTS_POLICY_MAX) {
		snprintf(f->why, sizeof(f->why),
		    "policy file larger than %d octets", MTASTS_POLICY_MAX);
		return;
	}
	f->body = xmalloc(len + 1);
	evbuffer_copyout(in, f->body, len);
	f->body[len] = '\0';
	f->len = len;
	if (memchr(f->body, '\0', len) != NULL) {
		snprintf(
		    f->why, sizeof(f->why), "NUL octet in the policy file");
		free(f->body);
		f->body = NULL;
	}
}

static const char *
http_error_text(int err, int got_headers)
{
	switch (err - 1) {
	case EVREQ_HTTP_TIMEOUT:
		return "timed out";
	case EVREQ_HTTP_EOF:
		return got_headers ? "connection closed before the end of the "
		                     "policy file"
		                   : "connection closed before the end of the "
		                     "response headers";
	case EVREQ_HTTP_INVALID_HEADER:
		return "malformed or oversized HTTP response headers";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "policy file larger than 65536 octets";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "read error";
	default:
		return "no HTTP response";
	}
}

/* How the attempt in flight ended; why says why it failed. */
static int
attempt_status(struct stsfetch *f, char *why, size_t len)
{
	unsigned long e;

	if (f->body != NULL)
		return STS_S_FETCHED;
	if (f->verify_err != X509_V_OK) {
		snprintf(why, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(f->verify_err));
		return STS_S_WEBPKI_FAIL;
	}
	if (*f->why != '\0')
		strlcpy(why, f->why, len);
	else if (!f->tls_up) {
		e = bufferevent_get_openssl_error(
		    evhttp_connection_get_bufferevent(f->evcon));
		if (e != 0 && ERR_reason_error_string(e) != NULL)
			snprintf(why, len, "TLS handshake failed: %s",
			    ERR_reason_error_string(e));
		else
			snprintf(why, len,
			    "cannot connect, or the TLS "
			    "handshake was cut short");
	} else
		strlcpy(
		    why, http_error_text(f->http_error, f->got_headers), len);
	return STS_S_FETCH_FAIL;
}

/* A TLS connection to the next address and the GET on it. */
static void
attempt_start(struct stsfetch *f)
{
	struct bufferevent *bev;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char hostport[DNS_NAME_BUF + 8];

	f->over = f->got_headers = f->http_error = f->tls_up = 0;
	f->verify_err = X509_V_OK;
	*f->why = '\0';
	if ((f->ssl = SSL_new(sf.ctx)) == NULL)
		fatalx("MTA-STS: SSL_new failed");
	SSL_set_app_data(f->ssl, f);
	SSL_set_verify(f->ssl, SSL_VERIFY_PEER, tls_verify);
	SSL_set_info_callback(f->ssl, tls_info);
	if (!SSL_set_tlsext_host_name(f->ssl, f->host) ||
	    !X509_VERIFY_PARAM_set1_host(SSL_get0_param(f->ssl), f->host, 0))
		fatalx("MTA-STS: cannot set the policy host's name");
	SSL_set_hostflags(f->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	bev = bufferevent_openssl_socket_new(resolver->base, -1, f->ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		fatalx("MTA-STS: cannot make a TLS bufferevent");
	/* many servers close without close_notify; the length or the
	 * chunking says where the file ends */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	f->evcon = evhttp_connection_base_bufferevent_new(
	    resolver->base, NULL, bev, f->addrs[f->tried++], f->port);
	if (f->evcon == NULL)
		fatalx("MTA-STS: cannot make an HTTP connection");
	evhttp_connection_set_timeout(f->evcon, (int)f->timeout);
	evhttp_connection_set_retries(f->evcon, 0);
	evhttp_connection_set_max_headers_size(f->evcon, STSFETCH_HEADERS_MAX);
	evhttp_connection_set_max_body_size(f->evcon, MTASTS_POLICY_MAX);
	if ((req = evhttp_request_new(response_done, f)) == NULL)
		fatalx("MTA-STS: cannot make an HTTP request");
	evhttp_request_set_header_cb(req, response_headers);
	evhttp_request_set_error_cb(req, response_error);
	h = evhttp_request_get_output_headers(req);
	if (f->port == 443)
		strlcpy(hostport, f->host, sizeof(hostport));
	else
		snprintf(hostport, sizeof(hostport), "%s:%u", f->host, f->port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "Connection", "close");
	evhttp_add_header(h, "User-Agent", "ncmta");
	/* a failure to send calls response_done, or (out of memory only)
	 * returns -1 */
	if (evhttp_make_request(f->evcon, req, EVHTTP_REQ_GET, STSFETCH_PATH) ==
	    -1) {
		snprintf(f->why, sizeof(f->why), "cannot send the request");
		f->over = 1;
		event_active(f->step, 0, 0);
	}
}

/* The address lookups are answered, or an attempt ended: on to the
 * next address, or the result. */
static void
fetch_step(evutil_socket_t fd, short what, void *arg)
{
	struct stsfetch *f = arg;
	char why[STSFETCH_WHY_MAX];
	int status;

	(void)fd;
	(void)what;
	if (f->done)
		return;
	if (f->evcon == NULL && f->naddrs == 0) {
		snprintf(why, sizeof(why), "no address: %s",
		    *f->dns_why ? f->dns_why : "no A or AAAA record");
		fetch_deliver(f, STS_S_FETCH_FAIL, why);
		return;
	}
	if (f->evcon != NULL) {
		status = attempt_status(f, why, sizeof(why));
		/* another address only when this one gave no response */
		if (status == STS_S_FETCHED || f->got_headers ||
		    f->tried >= f->naddrs) {
			fetch_deliver(f, status, why);
			return;
		}
		log_debug("MTA-STS: %s[%s]:%u: %s; trying the next address",
		    f->host, f->addrs[f->tried - 1], f->port, why);
		attempt_end(f);
	}
	attempt_start(f);
}

static void
addr_answered(void *arg, const struct dns_result *res, uint32_t ttl)
{
	struct stsfetch *f = arg;
	size_t i;

	(void)ttl;
	f->dns_pending--;
	if (f->done) {
		if (f->dns_pending == 0)
			fetch_free(f);
		return;
	}
	for (i = 0; i < res->n && f->naddrs < STSFETCH_MAX_ADDRS; i++)
		strlcpy(f->addrs[f->naddrs++], res->rr[i].data,
		    sizeof(f->addrs[0]));
	if (res->status == DNS_S_TEMPFAIL)
		strlcpy(f->dns_why, res->why, sizeof(f->dns_why));
	if (f->dns_pending == 0)
		event_active(f->step, 0, 0);
}

void
stsfetch_start(const char *domain, stsfetch_cb *cb, void *arg)
{
	struct stsfetch *f = xcalloc(1, sizeof(*f));
	const char *inet = resolver->cfg.inet_protocols;
	struct timeval tv;
	int v4 = strcmp(inet, "ipv6") != 0, v6 = strcmp(inet, "ipv4") != 0;

	snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
	f->port = (uint16_t)resolver->cfg.smtp_mta_sts_port;
	f->timeout = resolver->cfg.smtp_mta_sts_timeout;
	f->cb = cb;
	f->arg = arg;
	f->deadline = evtimer_new(resolver->base, fetch_timeout, f);
	f->step = event_new(resolver->base, -1, 0, fetch_step, f);
	if (f->deadline == NULL || f->step == NULL)
		fatalx("MTA-STS: cannot make the fetch's events");
	tv.tv_sec = (time_t)f->timeout;
	tv.tv_usec = 0;
	evtimer_add(f->deadline, &tv);
	log_debug("MTA-STS: fetching https://%s:%u%s", f->host, f->port,
	    STSFETCH_PATH);
	/* the answers may come before lookup_internal returns; the next
	 * step is taken from the event loop, after this returns */
	f->dns_pending = v4 + v6;
	if (v4)
		lookup_internal(DNS_T_A, f->host, addr_answered, f);
	if (v6)
		lookup_internal(DNS_T_AAAA, f->host, addr_answered, f);
}
