/*
 * fuzz_normalize.c - pickup's normalisation of a submitted message
 * (daemons/pickup/normalize.c normalize_message()). The input is the
 * full name ncsendmail -F or a maildrop "fullname" line gives, a NUL,
 * then the message; its first octet chooses the null sender or not.
 * Its second bit makes it a message smtpd received: a HELO name (the
 * client's words, without line breaks as maildrop_parse() insists)
 * follows the full name, and our Received: names it. The stored form
 * must hold exactly the submitted header fields (Bcc:
 * gone, CRLF made LF), our Received: first, Date:/Message-ID:/From:
 * added only when missing and each one line, then the body: no field
 * or line that the submitter did not write can appear.
 */
#include "fuzz.h"
#include "maildrop.h"
#include "pickup.h"

#define HOST "mx.example.com"

struct text {
	char *p;
	size_t len;
};

/* s[0..n) with each CR that precedes a LF removed (an independent
 * version of what normalisation promises). */
static struct text
lf_only(const char *s, size_t n)
{
	struct text t = {malloc(n + 1), 0};
	size_t i;

	if (t.p == NULL)
		abort();
	for (i = 0; i < n; i++)
		if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
			t.p[t.len++] = s[i];
	return t;
}

/* Compare the next output field with an expected name (and text). */
static void
expect_field(const char *out, size_t len, size_t *pos, const char *name,
    const char *text, size_t textlen)
{
	struct msg_field f;

	FUZZ_CHECK(msg_field_next(out, len, pos, &f) == 1,
	    "output header ends before %s", name);
	FUZZ_CHECK(msg_field_is(&f, name), "field %.*s where %s belongs",
	    (int)f.namelen, f.name, name);
	if (text != NULL)
		FUZZ_CHECK(
		    f.len == textlen && memcmp(f.start, text, f.len) == 0,
		    "field %s differs from the submitted one", name);
}

static void
check(const struct norm_in *in, const struct norm_out *out)
{
	struct msg_field f, o;
	struct {
		int date, msgid, from, received;
	} seen = {0, 0, 0, 0};
	struct text t;
	size_t ipos = 0, opos = 0, bpos;
	char name[64], *fromv;
	int eight = 0;

	FUZZ_CHECK(out->len > 0 && out->body[out->len - 1] == '\n',
	    "stored form does not end with LF");
	expect_field(out->body, out->len, &opos, "Received", NULL, 0);
	while (msg_field_next(in->msg, in->len, &ipos, &f)) {
		if (msg_field_is(&f, "bcc"))
			continue;
		seen.date |= msg_field_is(&f, "date");
		seen.msgid |= msg_field_is(&f, "message-id");
		seen.from |= msg_field_is(&f, "from");
		seen.received += msg_field_is(&f, "received");
		t = lf_only(f.start, f.len);
		if (t.p[t.len - 1] != '\n')
			t.p[t.len++] = '\n';
		snprintf(name, sizeof(name), "%.*s", (int)f.namelen, f.name);
		if (f.namelen < sizeof(name))
			expect_field(
			    out->body, out->len, &opos, name, t.p, t.len);
		else
			FUZZ_CHECK(msg_field_next(
			               out->body, out->len, &opos, &o) == 1 &&
			        o.len == t.len &&
			        memcmp(o.start, t.p, t.len) == 0,
			    "long field differs");
		free(t.p);
	}
	if (!seen.date)
		expect_field(out->body, out->len, &opos, "Date", NULL, 0);
	if (!seen.msgid)
		expect_field(out->body, out->len, &opos, "Message-ID", NULL, 0);
	if (!seen.from) {
		fromv =
		    norm_from_value(in->sender, in->fullname, in->myhostname);
		FUZZ_CHECK(strpbrk(fromv, "\r\n") == NULL,
		    "the From: we add spans lines: %s", fromv);
		free(fromv);
		expect_field(out->body, out->len, &opos, "From", NULL, 0);
	}
	bpos = opos;
	FUZZ_CHECK(msg_field_next(out->body, out->len, &opos, &o) == 0,
	    "a field nobody submitted: %.*s", (int)o.namelen, o.name);
	FUZZ_CHECK(out->nreceived == seen.received + 1, "Received count");
	/* the body: after one empty line, LF line ends, a final LF */
	if (ipos < in->len) {
		if (in->msg[ipos] == '\n')
			ipos++;
		else if (in->msg[ipos] == '\r' && ipos + 1 < in->len &&
		    in->msg[ipos + 1] == '\n')
			ipos += 2;
		t = lf_only(in->msg + ipos, in->len - ipos);
		if (t.len > 0 && t.p[t.len - 1] != '\n')
			t.p[t.len++] = '\n';
		FUZZ_CHECK(out->len - bpos == t.len + 1 &&
		        out->body[bpos] == '\n' &&
		        memcmp(out->body + bpos + 1, t.p, t.len) == 0,
		    "body differs from the submitted one");
		free(t.p);
	} else
		FUZZ_CHECK(bpos == out->len, "body without a submitted one");
	for (ipos = 0; ipos < in->len; ipos++)
		eight |= (unsigned char)in->msg[ipos] > 127;
	FUZZ_CHECK(out->eightbit == eight, "8-bit flag");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in fin = {data, size};
	struct norm_in in;
	struct norm_out out;
	char *fullname, *helo = NULL, *p;
	uint8_t sel = fuzz_u8(&fin);

	fullname = fuzz_str(&fin);
	if (sel & 2) {
		helo = fuzz_str(&fin);
		for (p = helo; *p != '\0'; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
	}
	in = (struct norm_in){
	    .msg = (const char *)fin.p,
	    .len = fin.len,
	    .sender = (sel & 1) ? "" : "alice@example.com",
	    .fullname = fullname,
	    .myhostname = HOST,
	    .qid = "0006A1F0C2B7D123",
	    .uid = 1000,
	    .now = 1764373839,
	    .client = helo ? "client.example[192.0.2.7]" : NULL,
	    .helo = helo,
	    .proto = helo ? "ESMTP" : NULL,
	    .rcpt = (helo && (sel & 4)) ? "bob@example.org" : NULL,
	};
	normalize_message(&in, &out);
	check(&in, &out);
	free(out.body);
	free(out.msgid);
	free(fullname);
	free(helo);
	return 0;
}
