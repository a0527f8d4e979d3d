# Makefile - C unit tests and fuzzing for the protocol code.
#
#   make ctest          unit tests with gcc
#   make ctest-asan     unit tests with clang, ASan + UBSan
#   make fuzz           build the libFuzzer target
#   make fuzz-replay    run every checked-in corpus file once
#   make fuzz-run       fuzz for FUZZ_SECONDS (default 60); new inputs go to
#                       $(BUILD)/fuzz/corpus, crashes to $(BUILD)/fuzz/
#
# The Python extension is built by the Python packaging, not here.

CC = gcc
CLANG = clang
CFLAGS = -std=c11 -O1 -g -Wall -Wextra -Werror -pthread
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZFLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
BUILD = build
FUZZ_SECONDS = 60

CSRC = csrc
HTTP1_SRCS = $(CSRC)/http1/parser.c $(CSRC)/common/http.c $(CSRC)/common/buf.c
HTTP1_HDRS = $(CSRC)/http1/parser.h $(CSRC)/common/http.h $(CSRC)/common/buf.h
RING_HDRS = $(CSRC)/common/ring.h

CTESTS = test_http1_parser test_ring
FUZZ_CORPUS = fuzz/corpus/http1

.PHONY: all ctest ctest-asan fuzz fuzz-replay fuzz-run clean

all: ctest

# --- unit tests --------------------------------------------------------------

ctest: $(addprefix $(BUILD)/ctest/,$(CTESTS))
	@for t in $^; do echo "== $$t"; $$t || exit 1; done
	@$(MAKE) --no-print-directory ctest-ws
	@$(MAKE) --no-print-directory ctest-proxy

ctest-asan: $(addprefix $(BUILD)/ctest-asan/,$(CTESTS))
	@for t in $^; do echo "== $$t"; $$t || exit 1; done
	@$(MAKE) --no-print-directory ctest-ws-asan
	@$(MAKE) --no-print-directory ctest-proxy-asan

$(BUILD)/ctest/test_http1_parser: tests/c/test_http1_parser.c $(HTTP1_SRCS) $(HTTP1_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ tests/c/test_http1_parser.c $(HTTP1_SRCS)

$(BUILD)/ctest/test_ring: tests/c/test_ring.c $(RING_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ tests/c/test_ring.c

$(BUILD)/ctest-asan/test_http1_parser: tests/c/test_http1_parser.c $(HTTP1_SRCS) $(HTTP1_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) $(SANFLAGS) -o $@ tests/c/test_http1_parser.c $(HTTP1_SRCS)

$(BUILD)/ctest-asan/test_ring: tests/c/test_ring.c $(RING_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) $(SANFLAGS) -o $@ tests/c/test_ring.c

# --- fuzzing -----------------------------------------------------------------

fuzz: $(BUILD)/fuzz/fuzz_http1_parser

$(BUILD)/fuzz/fuzz_http1_parser: fuzz/fuzz_http1_parser.c $(CSRC)/http1/parser.c $(HTTP1_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) $(FUZZFLAGS) -o $@ fuzz/fuzz_http1_parser.c $(CSRC)/http1/parser.c

# Given files rather than a directory, libFuzzer runs each one once and exits.
fuzz-replay: $(BUILD)/fuzz/fuzz_http1_parser
	$(BUILD)/fuzz/fuzz_http1_parser $(FUZZ_CORPUS)/*
	@$(MAKE) --no-print-directory fuzz-ws-replay
	@$(MAKE) --no-print-directory fuzz-proxy-replay
	@$(MAKE) --no-print-directory fuzz-router-replay
	@$(MAKE) --no-print-directory fuzz-b64-replay

# The first directory receives new inputs; the checked-in seeds are only read.
fuzz-run: $(BUILD)/fuzz/fuzz_http1_parser
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_http1_parser -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(FUZZ_CORPUS)

clean:
	rm -rf $(BUILD)/ctest $(BUILD)/ctest-asan $(BUILD)/fuzz

# HTTP/2 session tests and fuzzing (mk/h2.mk), and everything C in one go.
include mk/h2.mk

.PHONY: check-c
check-c: ctest ctest-asan ctest-h2 ctest-h2-asan fuzz-replay fuzz-h2-replay

# WebSocket codec tests and fuzzing (mk/ws.mk); ctest, ctest-asan and
# fuzz-replay above run them.
include mk/ws.mk

# Proxy-header tests and fuzzing (mk/proxy.mk); ctest, ctest-asan and
# fuzz-replay above run them.
include mk/proxy.mk

# Router fuzzing (mk/router.mk); fuzz-replay above runs it.
include mk/router.mk
# base64url fuzzing (mk/base64url.mk); fuzz-replay above runs it.
include mk/base64url.mk

# Benchmarks against h2o, Granian, Uvicorn, FastAPI and Hypercorn
# (mk/bench.mk): `make bench`, `make bench QUICK=1`.
include mk/bench.mk
