# mk/bench.mk - benchmarks against other servers, and C microbenchmarks.
#
# Included by the root Makefile, or used alone from the repository root:
#   make -f mk/bench.mk bench            full run (median of 3 runs per figure)
#   make -f mk/bench.mk bench QUICK=1    one short run per figure, about 4 minutes
#   make -f mk/bench.mk bench-c          only build the C microbenchmarks
#   make -f mk/bench.mk bench-tls        only the TLS section (bench/tls.py:
#                                        docs/benchmarks-tls.md)
#   make -f mk/bench.mk bench-ws         only the WebSocket section (bench/ws.py:
#                                        docs/benchmarks-ws.md)
#   make -f mk/bench.mk soak             10,000 mixed HTTP/1.1 and h2c
#                                        connections for 10 minutes
#                                        (bench/soak.py: docs/soak.md; not in CI)
#
# `bench` installs what is missing (Debian: h2o, wrk, nghttp2-client; PyPI
# into .venv: bench/requirements.txt), builds bench/c/ into $(BENCH_BUILD),
# runs bench/run.py, and writes docs/benchmarks.md and docs/benchmarks.png.
# BENCH_ARGS passes more options to run.py, e.g.
#   make -f mk/bench.mk bench QUICK=1 BENCH_ARGS="--servers fasterapi,h2o --skip idle"
#
# Variables are BENCH_-prefixed so that including this file changes none of
# the root Makefile's, and it does not take over the default goal.

BENCH_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

BENCH_BUILD ?= build/bench
BENCH_PY ?= .venv/bin/python
BENCH_CC ?= gcc
BENCH_CFLAGS ?= -std=c11 -O2 -g -Wall -Wextra -Werror -pthread
BENCH_ARGS ?=
QUICK ?=

# Embedding: the python3.X-config of the interpreter the venv was made from.
BENCH_PYCONFIG ?= $(shell $(BENCH_PY) -c 'import sys, os; \
    print(os.path.join(sys.base_prefix, "bin", "python%d.%d-config" % sys.version_info[:2]))' 2>/dev/null)
BENCH_PY_CFLAGS = $(shell $(BENCH_PYCONFIG) --includes)
BENCH_PY_LDFLAGS = $(shell $(BENCH_PYCONFIG) --embed --ldflags) \
    -Wl,-rpath,$(shell $(BENCH_PYCONFIG) --prefix)/lib

BENCH_C_DEPS := bench/c/bench_util.h csrc/common/ring.h mk/bench.mk
BENCH_C_BINS := $(BENCH_BUILD)/ring_bench $(BENCH_BUILD)/interp_switch $(BENCH_BUILD)/handoff_bench \
    $(BENCH_BUILD)/ws_load $(BENCH_BUILD)/conn_bytes

.PHONY: bench bench-c bench-tls bench-ws soak

bench: bench-c
	$(BENCH_PY) bench/run.py $(if $(filter-out 0,$(QUICK)),--quick) --cbin $(BENCH_BUILD) $(BENCH_ARGS)
	$(BENCH_PY) bench/tls.py $(if $(filter-out 0,$(QUICK)),--quick)
	$(BENCH_PY) bench/ws.py $(if $(filter-out 0,$(QUICK)),--quick)

bench-ws: $(BENCH_BUILD)/ws_load
	$(BENCH_PY) bench/ws.py $(if $(filter-out 0,$(QUICK)),--quick)

bench-tls:
	$(BENCH_PY) bench/tls.py $(if $(filter-out 0,$(QUICK)),--quick)

SOAK_ARGS ?=
soak:
	$(BENCH_PY) bench/soak.py $(SOAK_ARGS)

bench-c: $(BENCH_C_BINS)

$(BENCH_BUILD)/ring_bench: bench/c/ring_bench.c $(BENCH_C_DEPS)
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_BUILD)/ws_load: bench/c/ws_load.c mk/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

# heap bytes libnghttp2 and OpenSSL hold per idle h2 / TLS connection
$(BENCH_BUILD)/conn_bytes: bench/c/conn_bytes.c mk/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $(shell pkg-config --cflags libnghttp2 libssl libcrypto) -o $@ $< \
	    $(shell pkg-config --libs libnghttp2 libssl libcrypto)

$(BENCH_BUILD)/handoff_bench: bench/c/handoff_bench.c $(BENCH_C_DEPS)
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_BUILD)/interp_switch: bench/c/interp_switch.c $(BENCH_C_DEPS)
	@mkdir -p $(@D)
	@test -x "$(BENCH_PYCONFIG)" || { echo "no python-config at '$(BENCH_PYCONFIG)'"; exit 1; }
	$(BENCH_CC) $(BENCH_CFLAGS) $(BENCH_PY_CFLAGS) -o $@ $< $(BENCH_PY_LDFLAGS)

# Give the default goal back to whoever included us.
.DEFAULT_GOAL := $(BENCH_SAVED_DEFAULT_GOAL)
