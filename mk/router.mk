# mk/router.mk - fuzzing of the router (csrc/server/router.c), which matches
# request paths from the network against the routing table.
#
# Included by the root Makefile, whose fuzz-replay runs it too; alone:
# make -f mk/router.mk fuzz-router-replay
#
#   fuzz-router          builds the libFuzzer target fuzz/fuzz_router.c
#   fuzz-router-replay   runs every input of fuzz/corpus/router once
#   fuzz-router-run      fuzzes for FUZZ_SECONDS (default 60)
#   fuzz-router-seeds    rewrites fuzz/corpus/router from fuzz/router_seeds.py

ROUTER_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

ROUTER_BUILD ?= build/router
ROUTER_CLANG ?= clang
FUZZ_SECONDS ?= 60

ROUTER_SRCS := csrc/server/router.c
ROUTER_HDRS := csrc/server/router.h csrc/common/http.h csrc/common/buf.h
ROUTER_WARN := -std=c11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE
ROUTER_CORPUS := fuzz/corpus/router

.PHONY: fuzz-router fuzz-router-replay fuzz-router-run fuzz-router-seeds

$(ROUTER_BUILD)/fuzz_router: fuzz/fuzz_router.c $(ROUTER_SRCS) $(ROUTER_HDRS) mk/router.mk
	@mkdir -p $(@D)
	$(ROUTER_CLANG) $(ROUTER_WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ fuzz/fuzz_router.c $(ROUTER_SRCS)

fuzz-router: $(ROUTER_BUILD)/fuzz_router

fuzz-router-replay: $(ROUTER_BUILD)/fuzz_router
	$< $(ROUTER_CORPUS)/*

fuzz-router-run: $(ROUTER_BUILD)/fuzz_router
	mkdir -p $(ROUTER_BUILD)/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(ROUTER_BUILD)/ \
	    $(ROUTER_BUILD)/corpus $(ROUTER_CORPUS)

fuzz-router-seeds:
	python3 fuzz/router_seeds.py

.DEFAULT_GOAL := $(ROUTER_SAVED_DEFAULT_GOAL)
