/*
 * fuzz_maildrop.c - maildrop files (common/maildrop.c), which any local
 * user can write into QDIR/maildrop: maildrop_parse(), then what pickup
 * does with a parsed file (the addresses through addr_normalize(), the
 * DSN fields through dsnparam.c, the header walk of msg_field_next());
 * every ORCPT that parses is one dsn_orcpt_valid() takes.
 * A file that parses must write back (maildrop_envelope()) to an
 * envelope that parses to the same fields.
 */
#include "addr.h"
#include "dsnparam.h"
#include "fuzz.h"
#include "maildrop.h"

static void
check_same(const struct maildrop *a, const struct maildrop *b)
{
	size_t i;

	FUZZ_CHECK(strcmp(a->sender, b->sender) == 0 &&
	        strcmp(a->fullname, b->fullname) == 0 &&
	        a->extract == b->extract && strcmp(a->notify, b->notify) == 0 &&
	        strcmp(a->ret, b->ret) == 0 &&
	        strcmp(a->envid, b->envid) == 0 &&
	        strcmp(a->body_type, b->body_type) == 0 &&
	        a->nrcpt == b->nrcpt && a->msglen == b->msglen &&
	        memcmp(a->msg, b->msg, a->msglen) == 0,
	    "the written envelope reads back differently");
	for (i = 0; i < a->nrcpt; i++)
		FUZZ_CHECK(strcmp(a->rcpt[i], b->rcpt[i]) == 0 &&
		        strcmp(a->orcpt[i], b->orcpt[i]) == 0,
		    "recipient %zu reads back differently", i);
}

/* What pickup checks again (pk_check_envelope in pickup.c). */
static void
check_envelope(const struct maildrop *md)
{
	char addr[ADDR_MAX];
	const char *err;
	size_t i;
	int v;

	if (addr_normalize(md->sender, "example.org", ADDR_NULL_OK, addr,
	        sizeof(addr), &err) == 0)
		FUZZ_CHECK(!addr_has_control(addr, strlen(addr)), "sender");
	for (i = 0; i < md->nrcpt; i++)
		if (addr_normalize(md->rcpt[i], "example.org", 0, addr,
		        sizeof(addr), &err) == 0)
			FUZZ_CHECK(
			    !addr_has_control(addr, strlen(addr)), "recipient");
	for (i = 0; i < md->nrcpt; i++)
		FUZZ_CHECK(
		    *md->orcpt[i] == '\0' || dsn_orcpt_valid(md->orcpt[i]),
		    "ORCPT \"%s\"", md->orcpt[i]);
	(void)dsn_envid_valid(md->envid);
	if ((v = dsn_notify_parse(md->notify)) != -1)
		FUZZ_CHECK(v > 0 && v <= 0xf &&
		        (!(v & DSN_NOTIFY_NEVER) || v == DSN_NOTIFY_NEVER),
		    "NOTIFY bits %d", v);
	v = dsn_ret_parse(md->ret);
	FUZZ_CHECK(v == -1 || v == DSN_RET_FULL || v == DSN_RET_HDRS, "RET");
}

/* The header walk must stay inside the message and move forward. */
static void
check_fields(const char *msg, size_t len)
{
	struct msg_field f;
	size_t pos = 0, last = 0;

	while (msg_field_next(msg, len, &pos, &f)) {
		FUZZ_CHECK(pos > last && pos <= len,
		    "walk went from %zu to %zu", last, pos);
		FUZZ_CHECK(
		    f.start == msg + last && f.len == pos - last, "field span");
		FUZZ_CHECK(f.namelen > 0 &&
		        memchr(f.name, ':', f.namelen) == NULL &&
		        f.name[f.namelen] == ':',
		    "field name");
		FUZZ_CHECK(f.value + f.valuelen <= msg + pos, "field value");
		last = pos;
	}
	FUZZ_CHECK(pos == last, "the end moved");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildrop md, again;
	const char *err = NULL;
	char *env, *copy;
	size_t envlen;

	if (maildrop_parse((const char *)data, size, &md, &err) == -1) {
		FUZZ_CHECK(err != NULL && md.sender == NULL && md.nrcpt == 0,
		    "a refused file left a result");
		return 0;
	}
	FUZZ_CHECK(md.msg >= (const char *)data &&
	        md.msg + md.msglen == (const char *)data + size,
	    "message outside the file");
	FUZZ_CHECK(md.nrcpt <= 100000, "%zu recipients", md.nrcpt);
	check_envelope(&md);
	check_fields(md.msg, md.msglen);
	env = maildrop_envelope(&md, md.msglen, &envlen, &err);
	if (env != NULL) {
		copy = malloc(envlen + md.msglen);
		if (copy == NULL)
			abort();
		memcpy(copy, env, envlen);
		memcpy(copy + envlen, md.msg, md.msglen);
		FUZZ_CHECK(
		    maildrop_parse(copy, envlen + md.msglen, &again, &err) == 0,
		    "the written envelope does not parse: %s", err);
		check_same(&md, &again);
		maildrop_clear(&again);
		free(copy);
		free(env);
	}
	maildrop_clear(&md);
	return 0;
}
