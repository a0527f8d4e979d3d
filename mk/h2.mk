# mk/h2.mk - tests and fuzzing of the HTTP/2 session layer (csrc/http2/).
#
# Included by the root Makefile, or used alone from the repository root:
#   make -f mk/h2.mk ctest-h2 ctest-h2-asan fuzz-h2-replay
#
#   ctest-h2         C unit test, gcc -Werror
#   ctest-h2-asan    the same under clang with ASan + UBSan
#   ctest-h2-noopt   built as if nghttp2 lacked the optional hardening
#                    symbols, to keep that fallback compiling and passing
#   fuzz-h2          builds the libFuzzer target (clang, ASan + UBSan)
#   fuzz-h2-replay   runs every input of fuzz/corpus/h2 once
#   fuzz-h2-run      fuzzes for FUZZ_SECONDS (default 60); new inputs go to
#                    $(H2_BUILD)/corpus, crashes to $(H2_BUILD)/
#   fuzz-h2-seeds    regenerates fuzz/corpus/h2 from the unit test's clients
#   fuzz-h2frames, fuzz-h2frames-run   the structure-aware target
#                    (fuzz/fuzz_h2_frames.c: frames built from the input),
#                    corpus fuzz/corpus/h2frames; fuzz-h2-replay replays both
#   fuzz-h2frames-seeds  regenerates its seeds (fuzz/h2frames_seeds.py)
#
# Variables are H2_-prefixed so that including this file never changes the
# root Makefile's CC/CFLAGS, and it does not take over the default goal.

H2_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

H2_BUILD ?= build/h2
H2_GCC ?= gcc
H2_CLANG ?= clang
FUZZ_SECONDS ?= 60

H2_NGHTTP2_CFLAGS := $(shell pkg-config --cflags libnghttp2 2>/dev/null)
H2_NGHTTP2_LIBS := $(shell pkg-config --libs libnghttp2 2>/dev/null || echo -lnghttp2)

# Symbol detection: a program that takes the function's address through a
# volatile pointer compiles only if the header declares it and links only if
# the library exports it (Debian backports some of these to 1.52 without
# bumping the version, so the version macro cannot tell).
H2_HASH := \#
h2_have_symbol = $(shell printf '%s\n' '$(H2_HASH)include <nghttp2/nghttp2.h>' \
    'int main(void) { void (*volatile p)(void) = (void (*)(void))$(1); return p == 0; }' \
    | $(H2_GCC) -x c - $(H2_NGHTTP2_CFLAGS) $(H2_NGHTTP2_LIBS) -o /dev/null >/dev/null 2>&1 && echo 1)

# Evaluated once, on first use, so that including this file costs nothing
# for unrelated targets.
H2_HAVE_RESET_RATE_LIMIT = $(eval H2_HAVE_RESET_RATE_LIMIT := \
    $(call h2_have_symbol,nghttp2_option_set_stream_reset_rate_limit))$(H2_HAVE_RESET_RATE_LIMIT)
H2_HAVE_MAX_CONTINUATIONS = $(eval H2_HAVE_MAX_CONTINUATIONS := \
    $(call h2_have_symbol,nghttp2_option_set_max_continuations))$(H2_HAVE_MAX_CONTINUATIONS)
H2_DEFS = $(if $(strip $(H2_HAVE_RESET_RATE_LIMIT)),-DFA_HAVE_NGHTTP2_STREAM_RESET_RATE_LIMIT) \
          $(if $(strip $(H2_HAVE_MAX_CONTINUATIONS)),-DFA_HAVE_NGHTTP2_MAX_CONTINUATIONS)

H2_SRCS := csrc/http2/session.c csrc/server/fields.c csrc/common/buf.c csrc/common/http.c csrc/common/slab.c
H2_HDRS := csrc/http2/session.h csrc/server/conn_internal.h csrc/server/config.h csrc/server/fields.h \
           csrc/common/http.h csrc/common/buf.h csrc/http1/parser.h
H2_TEST_SRC := tests/c/test_h2_session.c
H2_STUB_HDR := tests/c/h2_stub.h fuzz/h2_fuzz_worker.h
H2_FUZZ_SRC := fuzz/fuzz_h2_session.c
H2_CORPUS := fuzz/corpus/h2
H2_FRAMES_FUZZ_SRC := fuzz/fuzz_h2_frames.c
H2_FRAMES_CORPUS := fuzz/corpus/h2frames

H2_WARN := -std=c11 -Wall -Wextra -Werror
H2_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
H2_DEPS := $(H2_SRCS) $(H2_HDRS) $(H2_STUB_HDR) mk/h2.mk

.PHONY: ctest-h2 ctest-h2-asan ctest-h2-noopt fuzz-h2 fuzz-h2-replay fuzz-h2-run fuzz-h2-seeds \
        fuzz-h2frames fuzz-h2frames-run fuzz-h2frames-seeds

$(H2_BUILD):
	mkdir -p $@

$(H2_BUILD)/test_h2_session: $(H2_TEST_SRC) $(H2_DEPS) | $(H2_BUILD)
	$(H2_GCC) $(H2_WARN) -O1 -g $(H2_DEFS) $(H2_NGHTTP2_CFLAGS) -o $@ \
	    $(H2_TEST_SRC) $(H2_SRCS) $(H2_NGHTTP2_LIBS)

$(H2_BUILD)/test_h2_session-asan: $(H2_TEST_SRC) $(H2_DEPS) | $(H2_BUILD)
	$(H2_CLANG) $(H2_WARN) -O1 -g $(H2_SAN) $(H2_DEFS) $(H2_NGHTTP2_CFLAGS) -o $@ \
	    $(H2_TEST_SRC) $(H2_SRCS) $(H2_NGHTTP2_LIBS)

$(H2_BUILD)/test_h2_session-noopt: $(H2_TEST_SRC) $(H2_DEPS) | $(H2_BUILD)
	$(H2_GCC) $(H2_WARN) -O1 -g $(H2_NGHTTP2_CFLAGS) -o $@ \
	    $(H2_TEST_SRC) $(H2_SRCS) $(H2_NGHTTP2_LIBS)

$(H2_BUILD)/fuzz_h2_session: $(H2_FUZZ_SRC) $(H2_DEPS) | $(H2_BUILD)
	$(H2_CLANG) $(H2_WARN) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer $(H2_DEFS) $(H2_NGHTTP2_CFLAGS) \
	    -o $@ $(H2_FUZZ_SRC) $(H2_SRCS) $(H2_NGHTTP2_LIBS)

$(H2_BUILD)/fuzz_h2_frames: $(H2_FRAMES_FUZZ_SRC) $(H2_DEPS) | $(H2_BUILD)
	$(H2_CLANG) $(H2_WARN) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer $(H2_DEFS) $(H2_NGHTTP2_CFLAGS) \
	    -o $@ $(H2_FRAMES_FUZZ_SRC) $(H2_SRCS) $(H2_NGHTTP2_LIBS)

ctest-h2: $(H2_BUILD)/test_h2_session
	$<

ctest-h2-asan: $(H2_BUILD)/test_h2_session-asan
	$<

ctest-h2-noopt: $(H2_BUILD)/test_h2_session-noopt
	$<

fuzz-h2: $(H2_BUILD)/fuzz_h2_session

fuzz-h2-replay: $(H2_BUILD)/fuzz_h2_session $(H2_BUILD)/fuzz_h2_frames
	$(H2_BUILD)/fuzz_h2_session $(H2_CORPUS)/*
	$(H2_BUILD)/fuzz_h2_frames $(H2_FRAMES_CORPUS)/*

fuzz-h2frames: $(H2_BUILD)/fuzz_h2_frames

fuzz-h2frames-run: $(H2_BUILD)/fuzz_h2_frames
	mkdir -p $(H2_BUILD)/corpus-frames
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(H2_BUILD)/ \
	    $(H2_BUILD)/corpus-frames $(H2_FRAMES_CORPUS)

fuzz-h2frames-seeds:
	python3 fuzz/h2frames_seeds.py $(H2_FRAMES_CORPUS)

fuzz-h2-run: $(H2_BUILD)/fuzz_h2_session
	mkdir -p $(H2_BUILD)/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(H2_BUILD)/ \
	    $(H2_BUILD)/corpus $(H2_CORPUS)

fuzz-h2-seeds: $(H2_BUILD)/test_h2_session
	mkdir -p $(H2_CORPUS)
	$< --write-seeds $(H2_CORPUS)

# Give the default goal back to whoever included us.
.DEFAULT_GOAL := $(H2_SAVED_DEFAULT_GOAL)
