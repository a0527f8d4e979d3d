# mk/ws.mk - C unit tests and fuzzing of the WebSocket codec (csrc/ws/).
#
# Included by the root Makefile, whose ctest, ctest-asan and fuzz-replay
# run these too; alone: make -f mk/ws.mk ctest-ws ctest-ws-asan fuzz-ws-replay
#
#   ctest-ws         tests/c/test_ws.c with gcc -Werror
#   ctest-ws-asan    the same under clang with ASan + UBSan
#   fuzz-ws          builds the libFuzzer targets fuzz/fuzz_ws_frame.c and
#                    fuzz/fuzz_ws_reader.c (bytes -> messages, as connections use it)
#                    and fuzz/fuzz_ws_handshake.c (the opening handshake and the
#                    permessage-deflate offers)
#   fuzz-ws-replay   runs every input of fuzz/corpus/ws (and ws-handshake) once
#   fuzz-ws-run      fuzzes fuzz_ws_frame for FUZZ_SECONDS (default 60)
#   fuzz-ws-reader-run  the same for fuzz_ws_reader
#   fuzz-ws-handshake-run  the same for fuzz_ws_handshake
#   fuzz-ws-seeds    rewrites fuzz/corpus/ws from fuzz/ws_seeds.py
#
# SHA-1 for the accept key is libcrypto's, compression zlib's.

WS_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

WS_BUILD ?= build/ws
WS_GCC ?= gcc
WS_CLANG ?= clang
FUZZ_SECONDS ?= 60

WS_LIBS := $(shell pkg-config --libs libcrypto zlib 2>/dev/null || echo -lcrypto -lz)
WS_SRCS := csrc/ws/frame.c csrc/ws/handshake.c csrc/ws/deflate.c csrc/ws/reader.c csrc/common/buf.c
WS_HDRS := csrc/ws/frame.h csrc/ws/handshake.h csrc/ws/deflate.h csrc/ws/reader.h csrc/common/buf.h \
           csrc/common/http.h
WS_WARN := -std=c11 -O1 -g -Wall -Wextra -Werror
WS_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
WS_CORPUS := fuzz/corpus/ws

.PHONY: ctest-ws ctest-ws-asan fuzz-ws fuzz-ws-replay fuzz-ws-run fuzz-ws-reader-run \
        fuzz-ws-handshake-run fuzz-ws-seeds

$(WS_BUILD)/test_ws: tests/c/test_ws.c $(WS_SRCS) $(WS_HDRS) mk/ws.mk
	@mkdir -p $(@D)
	$(WS_GCC) $(WS_WARN) -o $@ tests/c/test_ws.c $(WS_SRCS) $(WS_LIBS)

$(WS_BUILD)/test_ws-asan: tests/c/test_ws.c $(WS_SRCS) $(WS_HDRS) mk/ws.mk
	@mkdir -p $(@D)
	$(WS_CLANG) $(WS_WARN) $(WS_SAN) -o $@ tests/c/test_ws.c $(WS_SRCS) $(WS_LIBS)

$(WS_BUILD)/fuzz_ws_frame: fuzz/fuzz_ws_frame.c $(WS_SRCS) $(WS_HDRS) mk/ws.mk
	@mkdir -p $(@D)
	$(WS_CLANG) $(WS_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_ws_frame.c $(WS_SRCS) $(WS_LIBS)

$(WS_BUILD)/fuzz_ws_reader: fuzz/fuzz_ws_reader.c $(WS_SRCS) $(WS_HDRS) mk/ws.mk
	@mkdir -p $(@D)
	$(WS_CLANG) $(WS_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_ws_reader.c $(WS_SRCS) $(WS_LIBS)

$(WS_BUILD)/fuzz_ws_handshake: fuzz/fuzz_ws_handshake.c $(WS_SRCS) $(WS_HDRS) mk/ws.mk
	@mkdir -p $(@D)
	$(WS_CLANG) $(WS_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_ws_handshake.c $(WS_SRCS) $(WS_LIBS)

ctest-ws: $(WS_BUILD)/test_ws
	$<

ctest-ws-asan: $(WS_BUILD)/test_ws-asan
	$<

fuzz-ws: $(WS_BUILD)/fuzz_ws_frame $(WS_BUILD)/fuzz_ws_reader $(WS_BUILD)/fuzz_ws_handshake

fuzz-ws-replay: $(WS_BUILD)/fuzz_ws_frame $(WS_BUILD)/fuzz_ws_reader $(WS_BUILD)/fuzz_ws_handshake
	$(WS_BUILD)/fuzz_ws_frame $(WS_CORPUS)/*
	$(WS_BUILD)/fuzz_ws_reader $(WS_CORPUS)/*
	$(WS_BUILD)/fuzz_ws_handshake $(WS_CORPUS)-handshake/*

fuzz-ws-run: $(WS_BUILD)/fuzz_ws_frame
	mkdir -p $(WS_BUILD)/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(WS_BUILD)/ \
	    $(WS_BUILD)/corpus $(WS_CORPUS)

fuzz-ws-reader-run: $(WS_BUILD)/fuzz_ws_reader
	mkdir -p $(WS_BUILD)/corpus-reader
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(WS_BUILD)/reader- \
	    $(WS_BUILD)/corpus-reader $(WS_CORPUS)

fuzz-ws-handshake-run: $(WS_BUILD)/fuzz_ws_handshake
	mkdir -p $(WS_BUILD)/corpus-handshake
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=1024 \
	    -artifact_prefix=$(WS_BUILD)/handshake- $(WS_BUILD)/corpus-handshake $(WS_CORPUS)-handshake

fuzz-ws-seeds:
	python3 fuzz/ws_seeds.py

.DEFAULT_GOAL := $(WS_SAVED_DEFAULT_GOAL)
