/*
 * mtasts_test.c - MTA-STS text (common/mtasts.c): the _mta-sts TXT
 * record of RFC 8461 3.1, the policy file of 3.2 with the offence named
 * by line, and the mx patterns of 4.1 against exchangers' names.
 */
#include <stdio.h>
#include <string.h>

#include "mtasts.h"
#include "tap.h"

static char id[MTASTS_ID_MAX + 1], why[200];
static struct mtasts_policy pol;

/* mtasts_txt_parse() of txt[0..len): its result, id and why kept. */
static int
txtn(const char *txt, size_t len)
{
	memset(id, 'x', sizeof(id));
	memset(why, 'x', sizeof(why));
	return mtasts_txt_parse(txt, len, id, why, sizeof(why));
}

static int
txt(const char *s)
{
	return txtn(s, strlen(s));
}

/* mtasts_policy_parse() of text[0..len): its result, why kept. */
static int
policyn(const char *text, size_t len)
{
	memset(&pol, 0x5a, sizeof(pol));
	memset(why, 'x', sizeof(why));
	return mtasts_policy_parse(text, len, &pol, why, sizeof(why));
}

static int
policy(const char *s)
{
	return policyn(s, strlen(s));
}

static void
test_txt_valid(void)
{
	char id32[40], rec[80];

	is_int(txt("v=STSv1; id=20160831085700Z;"), 1, "RFC 8461 3.1 example");
	is_str(id, "20160831085700Z", "its id");
	is_str(why, "", "and no reason");
	is_int(txt("v=STSv1;id=abc"), 1, "no spaces, no final ';'");
	is_str(id, "abc", "id abc");
	is_int(txt("v=STSv1 \t;\t id=X1 ; "), 1, "spaces and tabs around ';'");
	is_str(id, "X1", "id X1");
	is_int(txt("v=STSv1; foo=bar; id=i9; a_b.c-d=!x:y<>~"), 1,
	    "extension fields before the id");
	is_str(id, "i9", "id i9");
	is_int(txt("v=STSv1; id=i8; ID=other; Id=x;"), 1,
	    "\"ID\" and \"Id\" are extensions (%%s\"id=\")");
	is_str(id, "i8", "the id is the lower-case one");
	memset(id32, 'a', 32);
	id32[32] = '\0';
	snprintf(rec, sizeof(rec), "v=STSv1; id=%s", id32);
	is_int(txt(rec), 1, "an id of 32 characters");
	is_str(id, id32, "kept whole");
}

static void
test_txt_other(void)
{
	is_int(txt("v=spf1 -all"), 0, "an SPF record");
	is_str(id, "", "no id");
	is_int(txt(""), 0, "empty");
	is_int(txt("v=STSv"), 0, "shorter than v=STSv1");
	is_int(txt("v=STSv2; id=abc"), 0, "another version: not STSv1");
	is_int(txt(" v=STSv1; id=abc"), 0, "a leading space");
	is_int(txt("V=STSv1; id=abc"), 0, "case matters");
	is_int(txtn("v=STS\0v1; id=x", 14), 0, "a NUL inside v=STSv1");
}

/* A record or policy refused, and the reason given. */
struct refusal {
	const char *text;
	const char *why;
	const char *what;
};

static const struct refusal txt_bad[] = {
    {"v=STSv1", "no id field", "no id"},
    {"v=STSv1;", "no id field", "no id, final ';'"},
    {"v=STSv1; foo=bar", "no id field", "only an extension"},
    {"v=STSv1; id=000000000000000000000000000000000",
        "id \"000000000000000000000000000000000\" is not 1 to 32 letters "
        "and digits",
        "an id of 33 characters"},
    {"v=STSv1x; id=abc", "the first field is not \"v=STSv1\"", "v=STSv1x"},
    {"v=STSv1; id=abc-def", "id \"abc-def\" is not 1 to 32 letters and digits",
        "a '-' in the id"},
    {"v=STSv1; id=abc\xc3\xa9", "octet 0xc3 at offset 15 where \";\" should be",
        "an 8-bit id"},
    {"v=STSv1; id=", "field \"id\" has no value", "an empty id"},
    {"v=STSv1; id=a; id=b", "id given twice", "two ids"},
    {"v=STSv1; id=abc ", "space at the end", "a space at the end, no ';'"},
    {"v=STSv1; id=abc foo=bar", "octet 0x66 at offset 16 where \";\" should be",
        "fields without ';'"},
    {"v=STSv1;; id=abc", "the field at offset 8 is not name=value",
        "an empty field"},
    {"v=STSv1; id=a=b", "octet 0x3d at offset 13 where \";\" should be",
        "'=' in a value"},
    {"v=STSv1; -x=1; id=a", "the field at offset 9 is not name=value",
        "a name starting with '-'"},
    {"v=STSv1; id", "the field at offset 9 is not name=value",
        "a field without '='"},
    {"v=STSv1; a23456789012345678901234567890123=1; id=a",
        "the field at offset 9 is not name=value", "a name of 33 characters"},
};

static void
test_txt_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof(txt_bad) / sizeof(txt_bad[0]); i++) {
		is_int(txt(txt_bad[i].text), -1, "%s", txt_bad[i].what);
		is_str(why, txt_bad[i].why, "%s: why", txt_bad[i].what);
		is_str(id, "", "%s: no id left", txt_bad[i].what);
	}
	is_int(txtn("v=STSv1; id=ab\0c", 16), -1, "a NUL in the id");
	is_str(why, "NUL octet in the record", "why");
	is_int(txt("v=STSv1; a2345678901234567890123456789012=1; id=a"), 1,
	    "a name of 32 characters");
	is_int(
	    mtasts_txt_parse("v=STSv1", 7, id, NULL, 0), -1, "no room for why");
}

#define RFC_EXAMPLE                                                            \
	"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"          \
	"mx: *.example.net\r\nmx: backupmx.example.com\r\n"                    \
	"max_age: 604800\r\n"

static void
test_policy_valid(void)
{
	char buf[300];

	is_int(policy(RFC_EXAMPLE), 0, "RFC 8461 3.2 example");
	is_str(why, "", "no reason");
	is_int(pol.mode, MTASTS_ENFORCE, "enforce");
	is_int(pol.max_age, 604800, "max_age");
	is_int(pol.nmx, 3, "three mx");
	is_str(pol.mx[0], "mail.example.com", "mx 1");
	is_str(pol.mx[1], "*.example.net", "mx 2");
	is_str(pol.mx[2], "backupmx.example.com", "mx 3");
	mtasts_mx_text(&pol, buf, sizeof(buf));
	is_str(buf, "mail.example.com, *.example.net, backupmx.example.com",
	    "as text");
	mtasts_mx_text(&pol, buf, 12);
	is_str(buf, "mail.exampl", "cut to 12 octets");

	is_int(policy("mode: testing\nmax_age: 86400\nversion: STSv1\n"
	              "mx: MX1.Example.ORG\n"),
	    0, "LF, any order");
	is_int(pol.mode, MTASTS_TESTING, "testing");
	is_int(pol.max_age, 86400, "max_age");
	is_str(pol.mx[0], "mx1.example.org", "mx kept in lower case");
	is_int(policy("version:STSv1\nmode:none\nmax_age:0"), 0,
	    "no space after ':', none without mx, no final newline");
	is_int(pol.mode, MTASTS_NONE, "none");
	is_int(pol.max_age, 0, "max_age 0");
	is_int(pol.nmx, 0, "no mx");
	mtasts_mx_text(&pol, buf, sizeof(buf));
	is_str(buf, "", "no mx as text");
	is_int(policy("version: STSv1 \t\nmode:\tnone  \r\nmax_age: "
	              "0031557600\t\nx-ext: free text: here \nmx: *.a.b\n"),
	    0, "WSP around values, an extension, 10 digits");
	is_int(pol.max_age, 31557600, "a year");
	is_str(pol.mx[0], "*.a.b", "*.a.b");
	is_int(policy("version: STSv1\nmode: enforce\nmax_age: 1\nmx: "
	              "a-b.c0\nmx: a-b.c0\nmx: localhost\n"),
	    0, "a repeated mx, a one-label mx");
	is_int(pol.nmx, 3, "each kept");
}

/* The three fields every policy needs, mode none. */
#define HEAD "version: STSv1\nmode: none\nmax_age: 1\n"
#define BAD_MX(pat, what)                                                      \
	{                                                                      \
		HEAD "mx: " pat "\n",                                          \
		    "line 4: mx \"" pat                                        \
		    "\" is neither a domain name nor *. and one",              \
		    what                                                       \
	}
#define A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct refusal policy_bad[] = {
    {"", "no version field", "empty file"},
    {"mode: none\nmax_age: 1\n", "no version field", "no version"},
    {"version: STSv1\nmax_age: 1\n", "no mode field", "no mode"},
    {"version: STSv1\nmode: none\n", "no max_age field", "no max_age"},
    {"version: STSv1\nmode: enforce\nmax_age: 1\n", "mode enforce without mx",
        "enforce without mx"},
    {"version: STSv1\nmode: testing\nmax_age: 1\n", "mode testing without mx",
        "testing without mx"},
    {"Version: STSv1\nmode: none\nmax_age: 1\n", "no version field",
        "\"Version\" is another key"},
    {"version: STSv1\nmode: none\nmax_age: abc\n",
        "line 3: max_age \"abc\" is not a number", "max_age not a number"},
    {"version: STSv1\nmode: none\nmax_age: 31557601\n",
        "line 3: max_age 31557601 is more than 31557600",
        "max_age over a year"},
    {"version: STSv1\nmode: none\nmax_age: 00000000001\n",
        "line 3: max_age \"00000000001\" has more than 10 digits",
        "max_age of 11 digits"},
    {"version: STSv1\nmode: none\nmax_age: 9999999999\n",
        "line 3: max_age 9999999999 is more than 31557600",
        "max_age beyond 32 bits"},
    {"version: STSv1\nmode: none\nmax_age: -1\n",
        "line 3: max_age \"-1\" is not a number", "max_age negative"},
    {"version: STSv1\nmode: none\nmax_age: 1 2\n",
        "line 3: max_age \"1 2\" is not a number", "max_age with a space"},
    {"version: STSv1\nmode: none\nmax_age:\n",
        "line 3: max_age \"\" is not a number", "max_age empty"},
    {"version: STSv1\nmode: Enforce\nmax_age: 1\nmx: a\n",
        "line 2: mode \"Enforce\" is not enforce, testing or none",
        "mode Enforce"},
    {"version: STSv2\nmode: none\nmax_age: 1\n",
        "line 1: version \"STSv2\" is not STSv1", "version STSv2"},
    {HEAD "foo:\n", "line 4: empty value", "an extension without a value"},
    {HEAD "foo: a\tb\n", "line 4: tab in the value",
        "a tab inside an extension's value"},
    {"version: STSv1\nversion: STSv1\nmode: none\nmax_age: 1\n",
        "line 2: version given twice", "version twice"},
    {"version: STSv1\nmode: none\nmode: none\nmax_age: 1\n",
        "line 3: mode given twice", "mode twice"},
    {HEAD "max_age: 1\n", "line 4: max_age given twice", "max_age twice"},
    BAD_MX("a.*.b", "wildcard not leftmost"),
    BAD_MX("*", "a bare *"),
    BAD_MX("*.", "*. alone"),
    BAD_MX("**.a", "**."),
    BAD_MX("*a.b", "* inside a label"),
    BAD_MX("a..b", "an empty label"),
    BAD_MX(".a", "a leading dot"),
    BAD_MX("a.b.", "a final dot"),
    BAD_MX("-a.b", "a leading hyphen"),
    BAD_MX("a-.b", "a label ending in a hyphen"),
    BAD_MX("a_b.c", "an underscore"),
    BAD_MX("a b", "a space inside"),
    BAD_MX("", "empty"),
    BAD_MX(A32 A32, "a label of 64"),
    {HEAD "x: caf\xc3\xa9\n", "line 4: octet 0xc3 is not ASCII",
        "an 8-bit octet"},
    {"version: STSv1\rmode: none\nmax_age: 1\n", "line 1: control octet 0x0d",
        "a bare CR"},
    {"version: STSv1\nmode: none\nmax_age: 1\r", "line 3: control octet 0x0d",
        "a CR at the end without LF"},
    {"version: STSv1\nmode: none\n\nmax_age: 1\n", "line 3: no \":\"",
        "an empty line"},
    {HEAD "\n", "line 4: no \":\"", "an empty line at the end"},
    {"version: STSv1\nmode none\nmax_age: 1\n", "line 2: no \":\"",
        "a line without ':'"},
    {"version: STSv1\n: none\nmax_age: 1\n", "line 2: empty key",
        "an empty key"},
    {"version: STSv1\nmode : none\nmax_age: 1\n", "line 2: bad key \"mode \"",
        "a space before ':'"},
    {" version: STSv1\nmode: none\nmax_age: 1\n",
        "line 1: bad key \" version\"", "a space before the key"},
    {HEAD A32 "a: x\n", "line 4: bad key \"" A32 "a\"", "a key of 33"},
};

static void
test_policy_bad(void)
{
	static const char nul[] = "version: STSv1\nmode: none\0\nmax_age: 1\n";
	char big[MTASTS_POLICY_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(policy_bad) / sizeof(policy_bad[0]); i++) {
		is_int(
		    policy(policy_bad[i].text), -1, "%s", policy_bad[i].what);
		is_str(why, policy_bad[i].why, "%s: why", policy_bad[i].what);
		is_int(pol.nmx + pol.mode + (int)pol.max_age, 0,
		    "%s: policy zeroed", policy_bad[i].what);
	}
	is_int(policyn(nul, sizeof(nul) - 1), -1, "a NUL");
	is_str(why, "line 2: NUL octet", "why");
	memset(big, ' ', sizeof(big));
	memcpy(big, "x:", 2);
	is_int(policyn(big, MTASTS_POLICY_MAX + 1), -1, "too long");
	is_str(why, "policy of 65537 octets, more than 65536", "why");
	is_int(
	    mtasts_policy_parse("x", 1, &pol, NULL, 0), -1, "no room for why");
	is_int(policy(HEAD "mx: a." A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"), 0,
	    "a label of 63");
	is_int(policy(HEAD A32 ": x\n"), 0, "an unknown key of 32");
}

static void
test_policy_mx(void)
{
	char text[4096];
	size_t n;
	int i;

	n = (size_t)snprintf(
	    text, sizeof(text), "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (i = 0; i < MTASTS_MAX_MX; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n, "mx: mx%d.example\n", i);
	is_int(policy(text), 0, "32 mx lines");
	is_int(pol.nmx, 32, "all kept");
	is_str(pol.mx[31], "mx31.example", "the last one");
	snprintf(text + n, sizeof(text) - n, "mx: mx32.example\n");
	is_int(policy(text), -1, "33 mx lines");
	is_str(why, "line 36: more than 32 mx lines", "why");
	is_int(pol.nmx, 0, "policy zeroed");
}

static void
test_mx_match(void)
{
	struct mtasts_policy p;

	is_int(policy(RFC_EXAMPLE), 0, "the RFC example");
	p = pol;
	is_int(mtasts_mx_match(&p, "mail.example.com"), 1, "exact");
	is_int(mtasts_mx_match(&p, "MAIL.Example.COM"), 1, "any case");
	is_int(mtasts_mx_match(&p, "mail.example.com."), 1, "a final dot");
	is_int(mtasts_mx_match(&p, "mail.example.com.."), 0, "two dots");
	is_int(mtasts_mx_match(&p, "mail.example.co"), 0, "a prefix");
	is_int(mtasts_mx_match(&p, "xmail.example.com"), 0, "a suffix");
	is_int(mtasts_mx_match(&p, "a.mail.example.com"), 0,
	    "an exact pattern is no wildcard");
	is_int(mtasts_mx_match(&p, "mx1.example.net"), 1, "wildcard");
	is_int(mtasts_mx_match(&p, "MX1.EXAMPLE.NET."), 1,
	    "wildcard, any case, final dot");
	is_int(
	    mtasts_mx_match(&p, "example.net"), 0, "the wildcard's own domain");
	is_int(mtasts_mx_match(&p, "a.b.example.net"), 0, "two labels");
	is_int(mtasts_mx_match(&p, ".example.net"), 0, "an empty label");
	is_int(mtasts_mx_match(&p, "xexample.net"), 0, "no dot");
	is_int(mtasts_mx_match(&p, ""), 0, "empty");
	is_int(mtasts_mx_match(&p, "."), 0, "a dot");
	is_int(mtasts_mx_match(&p, "backupmx.example.com"), 1, "the third");
	p.nmx = 0;
	is_int(mtasts_mx_match(&p, "mail.example.com"), 0, "no mx");
}

static void
test_names(void)
{
	is_str(mtasts_mode_name(MTASTS_NONE), "none", "none");
	is_str(mtasts_mode_name(MTASTS_TESTING), "testing", "testing");
	is_str(mtasts_mode_name(MTASTS_ENFORCE), "enforce", "enforce");
	is_str(mtasts_mode_name((enum mtasts_mode)7), "unknown", "unknown");
}

int
main(void)
{
	test_txt_valid();
	test_txt_other();
	test_txt_bad();
	test_policy_valid();
	test_policy_bad();
	test_policy_mx();
	test_mx_match();
	test_names();
	return done_testing();
}
