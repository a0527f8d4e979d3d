#!/usr/bin/env bash
# test.sh - takes a fresh machine to a passing test suite (CI runs this).
#
#   1. scripts/bootstrap.sh: Debian packages, .venv, the extension in place;
#   2. C tests: make ctest ctest-asan fuzz-replay, then mk/h2.mk's ctest-h2
#      ctest-h2-asan ctest-h2-noopt fuzz-h2-replay (those it defines);
#   3. pytest over tests/python and tests/attack with .venv's python (the whole suite), then
#      again with every other supported Python found on the machine
#      (FA_OTHER_PYTHONS, default "3.12 3.13" less .venv's own version),
#      each in its own .venv-X.Y made by bootstrap.sh with FA_PYTHON=X.Y, less the tests
#      marked slow, tests/attack and the MUST tables h2conf/h1conf/wsconf (C behaviour, covered once);
#   4. the ASan/UBSan pass: the extension is built again with FA_SANITIZE=1
#      into build/asan-ext, copied with the package's Python files into
#      build/asan/fasterapi, build/asan goes first on PYTHONPATH, and pytest
#      runs the suite minus the tests marked slow or timing, with gcc's
#      libasan and libubsan preloaded (LD_PRELOAD) into pytest and, through
#      FA_TEST_PRELOAD and tests/python/helpers.native_env(), into every
#      server and helper script it starts (curl and h2load run without
#      them); a test fails when its server printed a sanitizer report.
#
# Every step runs even when an earlier one failed (so one CI log shows all
# failures); the script exits non-zero if any step failed.  Skip a step with
# FA_SKIP_CTEST=1, FA_SKIP_PYTEST=1, FA_SKIP_OTHER_PYTHONS=1 or FA_SKIP_ASAN=1 (local use only; CI
# sets none).  Extra arguments are passed to every pytest run; arguments that
# name test files or folders replace the whole suite there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

T0=$SECONDS
FAILED=()
# Wall-clock bounds (seconds) per step, so that a hang cannot eat CI's 90
# minutes; pytest-timeout bounds single tests, these bound the whole run.
MAKE_LIMIT=${FA_MAKE_LIMIT:-1200}
PYTEST_LIMIT=${FA_PYTEST_LIMIT:-1800}
ASAN_LIMIT=${FA_ASAN_LIMIT:-1500}
bounded() {
    local secs=$1 rc=0
    shift
    # On a terminal, --foreground keeps Ctrl-C working (the bound then reaches
    # only the command itself); without one (CI) the whole process group,
    # test servers included, is stopped.
    local fg=()
    [ -t 0 ] && fg=(--foreground)
    timeout "${fg[@]}" -k 30 "$secs" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "test.sh: '$*' ran out of its ${secs}s and was stopped" >&2
    fi
    return "$rc"
}
step() { printf '\n=== test.sh: %s (t=%ds)\n' "$*" "$((SECONDS - T0))"; }
# run NAME FUNCTION [ARGS...]: runs the function in a subshell with errexit
# on; a failure is recorded, not fatal.  (The subshell must not be an if/||
# condition: bash ignores errexit inside those, even when set again.)
run() {
    local name=$1 rc
    shift
    step "$name"
    set +e
    (set -euo pipefail; "$@")
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        FAILED+=("$name")
        echo "test.sh: step FAILED ($rc): $name" >&2
    fi
}

# --- 2. C unit tests, sanitizers and fuzz corpus replay ------------------------
c_tests() {
    [ -f Makefile ] || { echo "test.sh: no Makefile at the repo root" >&2; return 1; }
    bounded "$MAKE_LIMIT" make ctest ctest-asan fuzz-replay
    # HTTP/2 session tests and corpus replay (mk/h2.mk): through the root
    # Makefile when it includes h2.mk, else with -f mk/h2.mk.
    [ -f mk/h2.mk ] || return 0
    local h2_db root_db t h2_targets=()
    h2_db=$(make -qp -f mk/h2.mk 2>/dev/null || true)
    root_db=$(make -qp 2>/dev/null || true)
    for t in ctest-h2 ctest-h2-asan ctest-h2-noopt fuzz-h2-replay; do
        if grep -q "^$t:" <<<"$h2_db"; then h2_targets+=("$t"); fi
    done
    [ "${#h2_targets[@]}" -gt 0 ] || return 0
    if grep -q "^ctest-h2:" <<<"$root_db"; then
        bounded "$MAKE_LIMIT" make "${h2_targets[@]}"
    else
        bounded "$MAKE_LIMIT" make -f mk/h2.mk "${h2_targets[@]}"
    fi
}

# --- 3. the Python suite --------------------------------------------------------
# The test paths: the whole suite, unless the arguments name test files or
# folders of their own (`./scripts/test.sh tests/python/test_cli.py`), which
# then replace it in every pass.
TEST_PATHS=(tests/python tests/attack)
for a in "$@"; do
    case "$a" in
        -*) ;;
        *) if [ -e "$a" ] || [ -e "${a%%::*}" ]; then TEST_PATHS=(); break; fi ;;
    esac
done
py_tests() {
    bounded "$PYTEST_LIMIT" "$FA_PY" -m pytest "${TEST_PATHS[@]}" -ra --durations=10 "$@"
}

# The whole suite on another Python version, in its own .venv-X.Y.
py_tests_version() {
    local version=$1
    shift
    # (called as bootstrap.sh is at the top: its steps run without errexit,
    # which a grep that filters pip's output to nothing would trip)
    FA_PYTHON=$version fa_bootstrap || return 1
    # 3.12.0-3.12.3: PYTHONMALLOC=malloc (the server refuses sub-interpreters
    # without it; tests/python/test_python_versions.py checks that refusal)
    fa_python_env
    # The second version's pass leaves out what does not depend on the Python
    # version: the slow soaks and floods, tests/attack and the MUST tables
    # (tests/python/h2conf, h1conf, wsconf), all of which exercise C code the
    # first pass covers.
    # Test paths given as arguments run as they are.
    local scope=(tests/python --ignore=tests/python/h2conf --ignore=tests/python/h1conf
                 --ignore=tests/python/wsconf)
    [ "${#TEST_PATHS[@]}" -gt 0 ] || scope=()
    bounded "$PYTEST_LIMIT" "$FA_PY" -m pytest "${scope[@]}" -ra --durations=5 -p no:cacheprovider \
        -m "not slow" "$@"
}

# --- 4. ASan + UBSan pass ---------------------------------------------------------
asan_tests() {
    local ext=$FA_ROOT/build/asan-ext pkg=$FA_ROOT/build/asan want
    want=$(FA_SANITIZE=1 _fa_hash_build_inputs)
    if [ "$(cat "$ext/.fa-build" 2>/dev/null || true)" != "$want" ] \
        || ! ls "$ext"/fasterapi/_native/http2*.so >/dev/null 2>&1; then
        echo "test.sh: building the extension with FA_SANITIZE=1 (log: build/asan-build.log)"
        rm -rf "$ext"
        mkdir -p "$FA_ROOT/build"
        FA_SANITIZE=1 "$FA_PY" setup.py -q build_ext --force -j "$(nproc 2>/dev/null || echo 2)" \
            --build-lib "$ext" --build-temp "$FA_ROOT/build/asan-tmp" >"$FA_ROOT/build/asan-build.log" 2>&1 \
            || { tail -n 60 "$FA_ROOT/build/asan-build.log" >&2; echo "test.sh: ASan build failed" >&2; return 1; }
        echo "$want" >"$ext/.fa-build"
    fi
    # build/asan/fasterapi = the package's Python files + the sanitized extension
    "$FA_PY" - "$FA_ROOT/src/fasterapi" "$ext/fasterapi" "$pkg/fasterapi" <<'PY'
import shutil, sys
from pathlib import Path
src, ext, dst = map(Path, sys.argv[1:])
shutil.rmtree(dst.parent, ignore_errors=True)
shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
for so in ext.rglob("*.so"):
    target = dst / so.relative_to(ext)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(so, target)
PY
    local libasan libubsan lib where
    libasan=$(gcc -print-file-name=libasan.so)
    libubsan=$(gcc -print-file-name=libubsan.so)
    for lib in "$libasan" "$libubsan"; do
        [ -e "$lib" ] || { echo "test.sh: sanitizer runtime $lib not found" >&2; return 1; }
    done
    export FA_TEST_PRELOAD="$libasan:$libubsan"
    export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}"
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # The servers must load the sanitized extension, not src/'s.
    where=$(LD_PRELOAD="$FA_TEST_PRELOAD" "$FA_PY" -c 'import fasterapi._native.http2 as m; print(m.__file__)')
    case "$where" in
        "$pkg"/*) echo "test.sh: sanitized extension: $where" ;;
        *) echo "test.sh: expected the ASan build under $pkg, got $where" >&2; return 1 ;;
    esac
    # pytest itself runs with the runtimes preloaded too: some test modules
    # import the package (hence the sanitized extension) in-process.
    LD_PRELOAD="$FA_TEST_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" \
        bounded "$ASAN_LIMIT" "$FA_PY" -m pytest "${TEST_PATHS[@]}" -ra -m "not slow and not timing" "$@"
}

[ "${FA_SKIP_CTEST:-0}" = 1 ] || run "C tests (make)" c_tests
[ "${FA_SKIP_PYTEST:-0}" = 1 ] || run "pytest tests/python" py_tests "$@"
if [ "${FA_SKIP_PYTEST:-0}" != 1 ] && [ "${FA_SKIP_OTHER_PYTHONS:-0}" != 1 ]; then
    main_version=$("$FA_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    for v in ${FA_OTHER_PYTHONS:-3.12 3.13}; do
        [ "$v" = "$main_version" ] && continue
        if _fa_find_python_version "$v" >/dev/null; then
            run "pytest tests/python on Python $v" py_tests_version "$v" "$@"
        else
            step "Python $v not found on this machine: its pytest pass is skipped"
        fi
    done
fi
[ "${FA_SKIP_ASAN:-0}" = 1 ] || run "pytest under ASan/UBSan (-m 'not slow and not timing')" asan_tests "$@"

if [ "${#FAILED[@]}" -gt 0 ]; then
    step "FAILED: ${FAILED[*]}"
    exit 1
fi
step "all passed"
