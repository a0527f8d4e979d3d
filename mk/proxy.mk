# mk/proxy.mk - C unit tests and fuzzing of the proxy headers (csrc/server/proxy.c).
#
# Included by the root Makefile, whose ctest, ctest-asan and fuzz-replay
# run these too; alone: make -f mk/proxy.mk ctest-proxy ctest-proxy-asan fuzz-proxy-replay
#
#   ctest-proxy         tests/c/test_proxy.c with gcc -Werror
#   ctest-proxy-asan    the same under clang with ASan + UBSan
#   fuzz-proxy          builds the libFuzzer target fuzz/fuzz_proxy.c
#   fuzz-proxy-replay   runs every input of fuzz/corpus/proxy once
#   fuzz-proxy-run      fuzzes for FUZZ_SECONDS (default 60)

PROXY_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

PROXY_BUILD ?= build/proxy
PROXY_GCC ?= gcc
PROXY_CLANG ?= clang
FUZZ_SECONDS ?= 60

PROXY_SRCS := csrc/server/proxy.c
PROXY_HDRS := csrc/server/proxy.h csrc/common/http.h csrc/common/buf.h
PROXY_WARN := -std=c11 -O1 -g -Wall -Wextra -Werror
PROXY_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
PROXY_CORPUS := fuzz/corpus/proxy

.PHONY: ctest-proxy ctest-proxy-asan fuzz-proxy fuzz-proxy-replay fuzz-proxy-run

$(PROXY_BUILD)/test_proxy: tests/c/test_proxy.c $(PROXY_SRCS) $(PROXY_HDRS) mk/proxy.mk
	@mkdir -p $(@D)
	$(PROXY_GCC) $(PROXY_WARN) -o $@ tests/c/test_proxy.c $(PROXY_SRCS)

$(PROXY_BUILD)/test_proxy-asan: tests/c/test_proxy.c $(PROXY_SRCS) $(PROXY_HDRS) mk/proxy.mk
	@mkdir -p $(@D)
	$(PROXY_CLANG) $(PROXY_WARN) $(PROXY_SAN) -o $@ tests/c/test_proxy.c $(PROXY_SRCS)

$(PROXY_BUILD)/fuzz_proxy: fuzz/fuzz_proxy.c $(PROXY_SRCS) $(PROXY_HDRS) mk/proxy.mk
	@mkdir -p $(@D)
	$(PROXY_CLANG) $(PROXY_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_proxy.c $(PROXY_SRCS)

ctest-proxy: $(PROXY_BUILD)/test_proxy
	$<

ctest-proxy-asan: $(PROXY_BUILD)/test_proxy-asan
	$<

fuzz-proxy: $(PROXY_BUILD)/fuzz_proxy

fuzz-proxy-replay: $(PROXY_BUILD)/fuzz_proxy
	$< $(PROXY_CORPUS)/*

fuzz-proxy-run: $(PROXY_BUILD)/fuzz_proxy
	mkdir -p $(PROXY_BUILD)/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(PROXY_BUILD)/ \
	    $(PROXY_BUILD)/corpus $(PROXY_CORPUS)

.DEFAULT_GOAL := $(PROXY_SAVED_DEFAULT_GOAL)
