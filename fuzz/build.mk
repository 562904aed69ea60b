# fuzz/build.mk - GNU make rules for the libFuzzer targets, called by
# fuzz/run (make -f fuzz/build.mk SRC=... B=...). Every object goes under
# $(B), built by clang with AddressSanitizer, UBSan and libFuzzer's
# coverage, so the normal build and its objects are never touched.
# fuzz/fuzz_NAME.c is the target NAME; EXTRA_NAME lists the sources
# outside the common library that it needs.

SRC ?= .
B ?= fuzz/build
CC = clang
PKG_CONFIG ?= pkg-config

SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	-Wmissing-prototypes -Wstrict-prototypes
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags libevent libbsd-overlay lmdb)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs libevent libbsd-overlay lmdb)
CPPFLAGS = -I$(SRC) -I$(SRC)/common -I$(SRC)/config -I$(SRC)/queue \
	-I$(SRC)/commands -I$(SRC)/daemons/pickup -I$(SRC)/daemons/bounce \
	-I$(SRC)/daemons/resolver \
	-I$(SRC)/daemons/metricsd -I$(SRC)/fuzz $(PKG_CFLAGS) -D_GNU_SOURCE \
	-DSYSCONFDIR='"/etc"' -DPKGLIBEXECDIR='"/usr/lib/ncmta"' \
	-DLOCALSTATEDIR='"/var"' -DNCMTA_VERSION='"fuzz"'
CFLAGS = -std=gnu11 -g -O1 $(WARN) $(SAN) -fsanitize=fuzzer-no-link -MMD -MP

# The parts of ncmta the targets reach: the common library, the
# configuration and the queue record codec.
LIB_SRCS = common/util.c common/log.c common/ipc.c common/ipcmsg.c common/addr.c \
	common/smtpreply.c common/maildrop.c common/hostlist.c \
	common/routes.c common/dsnparam.c common/mtasts.c common/aliases.c \
	common/rewrite.c \
	common/secrets.c common/metrics.c config/config.c config/settings.c \
	config/netaddr.c \
	queue/queue.c

EXTRA_dnsmsg = daemons/resolver/dnsmsg.c
EXTRA_dropfile = daemons/pickup/dropfile.c
EXTRA_normalize = daemons/pickup/normalize.c
EXTRA_smtpin = common/smtpin.c
EXTRA_dsn = daemons/bounce/dsn.c
EXTRA_http = daemons/metricsd/http.c

TARGETS := $(patsubst $(SRC)/fuzz/fuzz_%.c,%,$(wildcard $(SRC)/fuzz/fuzz_*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(B)/obj/%.o)

all: $(TARGETS:%=$(B)/fuzz_%)

$(B)/obj/%.o: $(SRC)/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libncfuzz.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# the objects of EXTRA_NAME
extra_objs = $(addprefix $(B)/obj/,$(patsubst %.c,%.o,$(EXTRA_$(1))))

.SECONDEXPANSION:
$(B)/fuzz_%: $(B)/obj/fuzz/fuzz_%.o $$(call extra_objs,$$*) $(B)/libncfuzz.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

.PHONY: all
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
