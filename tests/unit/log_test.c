/*
 * log_test.c - what reaches a log file: one line per event whatever the
 * text holds (control characters from outside become '?'), multi-line
 * texts of our own split into lines, and delivery lines in Postfix's
 * field order.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static char *
slurp(const char *path)
{
	static char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd != -1)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

int
main(void)
{
	char path[] = "/tmp/ncmta-log-test.XXXXXX", *text;
	char buf[64];
	int fd = mkstemp(path);

	ok(fd != -1, "temporary log file");
	close(fd);
	ok(log_init("test", path, "mail") == 0, "log to a file");

	log_info("ABC: from=<%s>",
	    "x>\nDec  7 01:02:03 h ncmta/smtp[1]: "
	    "ABC: to=<v@x>, status=sent\r\x7f");
	text = slurp(path);
	is_int(count_lines(text), 1, "a forged line break stays on its line");
	ok(strstr(text, "from=<x>?Dec  7") != NULL, "LF became '?'");
	ok(strstr(text, "status=sent??") != NULL, "CR and DEL became '?'");

	log_warnx_text("reload refused:", "ncmta.conf:3: bad\nroutes:7: x\n");
	text = slurp(path);
	is_int(count_lines(text), 4, "a text of ours: one line per line");
	ok(strstr(text, "warning: reload refused:\n") != NULL, "head line");
	ok(strstr(text, "warning:   routes:7: x\n") != NULL, "second line");

	strcpy(buf, "a\tb\x1b[31mc\xc3\xa9");
	log_printable(buf);
	is_str(buf, "a?b?[31mc\xc3\xa9", "tab and ESC replaced, UTF-8 kept");

	unlink(path);
	return done_testing();
}
