# mk/base64url.mk - fuzzing of the base64url decoder (csrc/common/base64url.c),
# which reads the HTTP2-Settings field of `Upgrade: h2c` requests.
#
# Included by the root Makefile, whose fuzz-replay runs it too; alone:
# make -f mk/base64url.mk fuzz-b64-replay
#
#   fuzz-b64          builds the libFuzzer target fuzz/fuzz_base64url.c
#   fuzz-b64-replay   runs every input of fuzz/corpus/base64url once
#   fuzz-b64-run      fuzzes for FUZZ_SECONDS (default 60)

B64_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

B64_BUILD ?= build/base64url
B64_CLANG ?= clang
FUZZ_SECONDS ?= 60

B64_SRCS := csrc/common/base64url.c
B64_HDRS := csrc/common/base64url.h
B64_WARN := -std=c11 -O1 -g -Wall -Wextra -Werror
B64_CORPUS := fuzz/corpus/base64url

.PHONY: fuzz-b64 fuzz-b64-replay fuzz-b64-run

$(B64_BUILD)/fuzz_base64url: fuzz/fuzz_base64url.c $(B64_SRCS) $(B64_HDRS) mk/base64url.mk
	@mkdir -p $(@D)
	$(B64_CLANG) $(B64_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_base64url.c $(B64_SRCS)

fuzz-b64: $(B64_BUILD)/fuzz_base64url

fuzz-b64-replay: $(B64_BUILD)/fuzz_base64url
	$< $(B64_CORPUS)/*

fuzz-b64-run: $(B64_BUILD)/fuzz_base64url
	mkdir -p $(B64_BUILD)/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(B64_BUILD)/ \
	    $(B64_BUILD)/corpus $(B64_CORPUS)

.DEFAULT_GOAL := $(B64_SAVED_DEFAULT_GOAL)
