/*
 * tls.h - the smtp worker's TLS client: context, per-connection objects,
 * and the verdict on a server's certificate.
 */
#ifndef NCMTA_SMTP_TLS_H
#define NCMTA_SMTP_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

enum tls_trust { TLS_UNTRUSTED, TLS_TRUSTED, TLS_VERIFIED };

struct dane_rr;

/* TLS 1.2 or later, the CA bundle (cafile, or the system's) loaded now. */
SSL_CTX *tls_client_ctx(const char *cafile);
/* A connection's TLS object, with SNI unless sni is "" or an address. */
SSL *tls_client_new(SSL_CTX *, const char *sni);
/*
 * A verdict on the server's certificate: its trust, the RFC 8460 result
 * type (TLSRPT_R_*) a policy that asks for Verified would report, and why
 * in words ("" when Verified).
 */
struct tls_outcome {
	enum tls_trust trust;
	int result;
	char why[512];
};

/*
 * After the handshake: Verified when the chain checks out and the
 * certificate names one of names (DNS names, or addresses checked
 * against IP entries), Trusted when only the chain does, else Untrusted.
 */
void tls_verdict(
    SSL *, const char *const *names, size_t nnames, struct tls_outcome *);
/*
 * DANE (RFC 7672) for this connection, before the handshake: the chain
 * must match one of the usable records among rrs (DANE-EE(3): the
 * server's own certificate or key, no name check; DANE-TA(2): a trust
 * anchor, with the name checked against base, the TLSA base domain).
 * Returns how many records OpenSSL took (0: none usable), -1 on error.
 */
int tls_dane_enable(SSL *, const char *base, const struct dane_rr *rrs,
    size_t n, char *why, size_t len);
/* After a DANE handshake: Verified when a TLSA record matched, else
 * Untrusted with why saying what failed. */
void tls_dane_verdict(SSL *, struct tls_outcome *);
const char *tls_trust_word(enum tls_trust);
/*
 * What a level (enum tls_level, smtp_tls_security_level) asks for:
 * required, TLS or no mail (encrypt, verify, dane, mta-sts; never
 * mta-sts in testing mode); webpki, the certificate checked against the
 * CA store and the host's name (verify, both mta-sts modes); the word
 * the TLS log line gives it.
 */
int tls_level_required(unsigned level);
int tls_level_webpki(unsigned level);
const char *tls_level_word(unsigned level);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
void tls_describe(SSL *, char *buf, size_t len);
/* The last OpenSSL error of this thread, as text (static buffer). */
const char *tls_error_string(void);
/* A handshake error from bufferevent_get_openssl_error(), as words. */
void tls_error_text(unsigned long e, char *buf, size_t len);

#endif
