#!/usr/bin/env bash
# test.sh - takes a fresh machine to a passing test suite (CI runs this).
#
#   1. scripts/bootstrap.sh: Debian packages, .venv, the extension in place;
#   2. C tests: make ctest ctest-asan fuzz-replay, then mk/h2.mk's ctest-h2
#      ctest-h2-asan ctest-h2-noopt fuzz-h2-replay (those it defines);
#   3. pytest over tests/python with .venv's python (the whole suite);
#   4. the ASan/UBSan pass: the extension is built again with FA_SANITIZE=1
#      into build/asan (a copy of the fasterapi package with the sanitized
#      extension in it), put first on PYTHONPATH, and pytest runs the suite
#      minus the tests marked slow or timing; the conftest preloads gcc's
#      libasan and libubsan into every process that loads the extension
#      (FA_TEST_PRELOAD) and fails a test whose server printed a sanitizer
#      report.
#
# Any failure fails the script.  Skip a step with FA_SKIP_CTEST=1,
# FA_SKIP_PYTEST=1 or FA_SKIP_ASAN=1 (local use only; CI sets none).  Extra
# arguments are passed to both pytest runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

T0=$SECONDS
step() { printf '\n=== test.sh: %s (t=%ds)\n' "$*" "$((SECONDS - T0))"; }

# --- 2. C unit tests, sanitizers and fuzz corpus replay ------------------------
if [ "${FA_SKIP_CTEST:-0}" != 1 ]; then
    step "C tests (make)"
    [ -f Makefile ] || { echo "test.sh: no Makefile at the repo root" >&2; exit 1; }
    make ctest ctest-asan fuzz-replay
    # HTTP/2 session tests and corpus replay (mk/h2.mk): through the root
    # Makefile when it includes h2.mk, else with -f mk/h2.mk.
    if [ -f mk/h2.mk ]; then
        h2_db=$(make -qp -f mk/h2.mk 2>/dev/null || true)
        root_db=$(make -qp 2>/dev/null || true)
        h2_targets=()
        for t in ctest-h2 ctest-h2-asan ctest-h2-noopt fuzz-h2-replay; do
            if grep -q "^$t:" <<<"$h2_db"; then h2_targets+=("$t"); fi
        done
        if [ "${#h2_targets[@]}" -gt 0 ]; then
            if grep -q "^ctest-h2:" <<<"$root_db"; then
                make "${h2_targets[@]}"
            else
                make -f mk/h2.mk "${h2_targets[@]}"
            fi
        fi
    fi
fi

# --- 3. the Python suite --------------------------------------------------------
if [ "${FA_SKIP_PYTEST:-0}" != 1 ]; then
    step "pytest tests/python"
    "$FA_PY" -m pytest tests/python -ra --durations=10 "$@"
fi

# --- 4. ASan + UBSan pass ---------------------------------------------------------
if [ "${FA_SKIP_ASAN:-0}" != 1 ]; then
    step "ASan/UBSan build (FA_SANITIZE=1 into build/asan)"
    ASAN_EXT=$FA_ROOT/build/asan-ext
    ASAN_PKG=$FA_ROOT/build/asan
    want=$(FA_SANITIZE=1 _fa_hash_build_inputs)
    if [ "$(cat "$ASAN_EXT/.fa-build" 2>/dev/null || true)" != "$want" ] \
        || ! ls "$ASAN_EXT"/fasterapi/_native/http2*.so >/dev/null 2>&1; then
        rm -rf "$ASAN_EXT"
        FA_SANITIZE=1 "$FA_PY" setup.py -q build_ext --force -j "$(nproc 2>/dev/null || echo 2)" \
            --build-lib "$ASAN_EXT" --build-temp "$FA_ROOT/build/asan-tmp" >"$FA_ROOT/build/asan-build.log" 2>&1 \
            || { tail -n 60 "$FA_ROOT/build/asan-build.log" >&2; echo "test.sh: ASan build failed" >&2; exit 1; }
        echo "$want" >"$ASAN_EXT/.fa-build"
    fi
    # build/asan/fasterapi = the package's Python files + the sanitized extension
    "$FA_PY" - "$FA_ROOT/src/fasterapi" "$ASAN_EXT/fasterapi" "$ASAN_PKG/fasterapi" <<'PY'
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
    libasan=$(gcc -print-file-name=libasan.so)
    libubsan=$(gcc -print-file-name=libubsan.so)
    for lib in "$libasan" "$libubsan"; do
        [ -e "$lib" ] || { echo "test.sh: sanitizer runtime $lib not found" >&2; exit 1; }
    done
    export FA_TEST_PRELOAD="$libasan:$libubsan"
    export PYTHONPATH="$ASAN_PKG${PYTHONPATH:+:$PYTHONPATH}"
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # The servers must load the sanitized extension, not src/'s.
    where=$(LD_PRELOAD="$FA_TEST_PRELOAD" "$FA_PY" -c 'import fasterapi._native.http2 as m; print(m.__file__)')
    case "$where" in
        "$ASAN_PKG"/*) echo "test.sh: ASan extension: $where" ;;
        *) echo "test.sh: expected the ASan build under $ASAN_PKG, got $where" >&2; exit 1 ;;
    esac
    step "pytest under ASan/UBSan (-m 'not slow and not timing')"
    "$FA_PY" -m pytest tests/python -ra -m "not slow and not timing" "$@"
fi

step "all passed"
