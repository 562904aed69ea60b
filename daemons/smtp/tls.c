/*
 * tls.c - the smtp worker's OpenSSL side: one client context made before
 * the worker drops privileges (the CA bundle is read then, since the
 * chroot hides it), a TLS object per connection, and the verdict on the
 * server's certificate in Postfix's three words: Verified (chain and
 * name, or a matching DANE TLSA record), Trusted (chain only), Untrusted.
 * DANE is OpenSSL's own (SSL_dane_enable, RFC 7671/7672 semantics). A
 * failed verdict also says its RFC 8460 result type, for TLS reporting.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dane.h"
#include "log.h"
#include "proto.h"
#include "tls.h"

SSL_CTX *
tls_client_ctx(const char *cafile)
{
	const char *file = *cafile ? cafile : X509_get_default_cert_file();
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new: %s", tls_error_string());
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		fatalx("cannot require TLS 1.2: %s", tls_error_string());
	/* the chain is checked and its verdict read after the handshake,
	 * so that "may" and "encrypt" still get a session */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* DANE is switched on per connection (tls_dane_enable) */
	if (SSL_CTX_dane_enable(ctx) <= 0)
		fatalx("SSL_CTX_dane_enable: %s", tls_error_string());
	/* read now: the default directory is searched lazily, after the
	 * chroot, where it does not exist */
	if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1) {
		log_warnx("smtp_tls_CAfile %s: %s; no certificate will "
		          "verify",
		    file, tls_error_string());
		ERR_clear_error();
	}
	return ctx;
}

static int
is_address(const char *name)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

SSL *
tls_client_new(SSL_CTX *ctx, const char *sni)
{
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		fatalx("SSL_new: %s", tls_error_string());
	if (*sni != '\0' && !is_address(sni) &&
	    !SSL_set_tlsext_host_name(ssl, sni))
		log_warnx("cannot send SNI %s: %s", sni, tls_error_string());
	return ssl;
}

static int
name_matches(X509 *cert, const char *name)
{
	if (*name == '\0')
		return 0;
	if (is_address(name))
		return X509_check_ip_asc(cert, name, 0) == 1;
	return X509_check_host(cert, name, 0,
	           X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/*
 * The RFC 8460 (4.3.1) result type of a chain that did not verify:
 * certificate-expired, certificate-not-trusted for an unknown or
 * self-signed issuer, certificate-host-mismatch for a DANE-TA(2) chain
 * that does not name the host; anything else, a TLSA record matching no
 * certificate included (tlsa-invalid, 4.3.2.1, is for records that are
 * themselves invalid), is validation-failure.
 */
static int
tls_result_of(long res)
{
	switch (res) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TLSRPT_R_CERT_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_INVALID_CA:
		return TLSRPT_R_CERT_NOT_TRUSTED;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return TLSRPT_R_CERT_HOST_MISMATCH;
	default:
		return TLSRPT_R_VALIDATION_FAILURE;
	}
}

/* Untrusted for want of a certificate: nothing to verify. */
static int
tls_no_cert(X509 *cert, struct tls_outcome *o)
{
	if (cert != NULL)
		return 0;
	o->trust = TLS_UNTRUSTED;
	o->result = TLSRPT_R_VALIDATION_FAILURE;
	snprintf(o->why, sizeof(o->why), "no server certificate");
	return 1;
}

void
tls_verdict(
    SSL *ssl, const char *const *names, size_t nnames, struct tls_outcome *o)
{
	X509 *cert = SSL_get_peer_certificate(ssl);
	long res = SSL_get_verify_result(ssl);
	size_t i;

	o->why[0] = '\0';
	o->result = TLSRPT_R_SUCCESS;
	if (tls_no_cert(cert, o))
		return;
	if (res != X509_V_OK) {
		snprintf(o->why, sizeof(o->why),
		    "certificate verification failed: %s",
		    X509_verify_cert_error_string(res));
		o->trust = TLS_UNTRUSTED;
		o->result = tls_result_of(res);
	} else {
		o->trust = TLS_TRUSTED;
		for (i = 0; i < nnames && o->trust != TLS_VERIFIED; i++)
			if (name_matches(cert, names[i]))
				o->trust = TLS_VERIFIED;
		if (o->trust != TLS_VERIFIED) {
			snprintf(o->why, sizeof(o->why),
			    "certificate verification failed: server "
			    "certificate name mismatch (expected %s)",
			    nnames > 0 ? names[0] : "a name");
			o->result = TLSRPT_R_CERT_HOST_MISMATCH;
		}
	}
	X509_free(cert);
}

int
tls_dane_enable(SSL *ssl, const char *base, const struct dane_rr *rrs, size_t n,
    char *why, size_t len)
{
	size_t i;
	int added = 0, rc;

	*why = '\0';
	if (SSL_dane_enable(ssl, base) <= 0) {
		snprintf(
		    why, len, "cannot enable DANE: %s", tls_error_string());
		return -1;
	}
	/* RFC 7672 3.1.1: a DANE-EE(3) match needs no name check */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < n; i++) {
		if (!dane_usable(&rrs[i]))
			continue;
		rc = SSL_dane_tlsa_add(ssl, rrs[i].usage, rrs[i].selector,
		    rrs[i].mtype, rrs[i].data, rrs[i].len);
		if (rc < 0) {
			snprintf(why, len, "cannot add a TLSA record: %s",
			    tls_error_string());
			return -1;
		}
		added += rc > 0;
	}
	ERR_clear_error(); /* records OpenSSL found unusable */
	return added;
}

void
tls_dane_verdict(SSL *ssl, struct tls_outcome *o)
{
	long res = SSL_get_verify_result(ssl);
	uint8_t usage, selector, mtype;
	X509 *cert = SSL_get_peer_certificate(ssl);

	o->why[0] = '\0';
	o->result = TLSRPT_R_SUCCESS;
	if (tls_no_cert(cert, o))
		return;
	X509_free(cert);
	o->trust = TLS_VERIFIED;
	if (res == X509_V_OK &&
	    SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL, NULL) >= 0)
		return;
	/* OpenSSL says "no matching DANE TLSA records" when none matched */
	snprintf(o->why, sizeof(o->why),
	    "certificate verification failed: %s%s",
	    res == X509_V_OK ? "no TLSA record matched"
	                     : X509_verify_cert_error_string(res),
	    res == X509_V_ERR_DANE_NO_MATCH ? "" : " (DANE)");
	o->trust = TLS_UNTRUSTED;
	o->result = tls_result_of(res);
}

const char *
tls_trust_word(enum tls_trust t)
{
	static const char *words[] = {"Untrusted", "Trusted", "Verified"};

	return words[t];
}

int
tls_level_required(unsigned level)
{
	return level == TLS_ENCRYPT || level == TLS_VERIFY ||
	    level == TLS_DANE || level == TLS_STS;
}

int
tls_level_webpki(unsigned level)
{
	return level == TLS_VERIFY || level == TLS_STS ||
	    level == TLS_STS_TESTING;
}

const char *
tls_level_word(unsigned level)
{
	static const char *words[] = {"none", "may", "encrypt", "verify",
	    "dane", "mta-sts", "mta-sts-testing"};

	return level < sizeof(words) / sizeof(words[0]) ? words[level] : "?";
}

void
tls_describe(SSL *ssl, char *buf, size_t len)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int alg = 0, bits = c != NULL ? SSL_CIPHER_get_bits(c, &alg) : 0;

	snprintf(buf, len, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) : "none",
	    bits, alg);
}

const char *
tls_error_string(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "no further detail";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

void
tls_error_text(unsigned long e, char *buf, size_t len)
{
	if (e == 0)
		snprintf(buf, len, "connection closed during the handshake");
	else {
		const char *r = ERR_reason_error_string(e);

		snprintf(buf, len, "%s", r != NULL ? r : "handshake failed");
	}
}
