/*
 * util.h - small helpers shared by every ncmta program: allocation
 * wrappers that die on failure, time, queue IDs and file descriptors.
 * (The parsers of durations and sizes are the configuration's:
 * config.h.)
 */
#ifndef NCMTA_UTIL_H
#define NCMTA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>

#define NC_QID_LEN 16 /* hex digits in a queue ID */

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

/* Wall clock in microseconds and seconds (double). */
uint64_t now_usec(void);
double now_sec(void);

/* Queue IDs: a 64-bit value, printed as NC_QID_LEN upper-case hex digits. */
void qid_format(uint64_t, char out[NC_QID_LEN + 1]);
int qid_parse(const char *, uint64_t *);

/* Write all of buf to fd, retrying on EINTR; -1 on error. */
int write_all(int, const void *, size_t);

/* Set or clear O_NONBLOCK and FD_CLOEXEC. */
int fd_nonblock(int);
int fd_cloexec(int);

/* fsync the directory that holds path (or the directory itself). */
int fsync_dir(const char *);

/* Octets (2-4) of the well-formed UTF-8 sequence at p, or 0 (an ASCII
 * octet, a bad or cut sequence, an overlong form, a surrogate, beyond
 * U+10FFFF). p is NUL-terminated. */
size_t utf8_len(const unsigned char *p);

#endif
