#!/bin/sh
# man_check.sh - man/ncmta.conf.5 must be exactly what config/gen-man makes
# of its template and the settings table (config/settings.c); a setting
# added or changed without "make man-conf" fails here. TAP output.
srcdir=${srcdir:-.}
gen=./config/gen-man
echo "1..2"
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
if "$gen" "$srcdir/man/ncmta.conf.5.in" > "$out"; then
	echo "ok 1 - gen-man writes the page"
else
	echo "not ok 1 - gen-man writes the page"
fi
if cmp -s "$out" "$srcdir/man/ncmta.conf.5"; then
	echo "ok 2 - man/ncmta.conf.5 matches config/settings.c"
else
	echo "not ok 2 - man/ncmta.conf.5 is stale: run make man-conf"
	diff "$srcdir/man/ncmta.conf.5" "$out" | sed 's/^/# /' | head -40
fi
