# shellcheck shell=bash
# bootstrap.sh - brings a machine from nothing to a built, importable FasterAPI.
#
# Sourced by scripts/serve.sh and scripts/test.sh (it can also be run on its
# own: `bash scripts/bootstrap.sh`).  Idempotent and quick when all is there:
#   1. Debian packages (gcc, make, pkg-config, libnghttp2-dev, libssl-dev and
#      openssl (TLS; the tests make certificates with it), nghttp2-client,
#      nghttp2-server (nghttpd, the conformance tests' oracle), haproxy and
#      nginx-light (the deployment tests' proxies),
#      curl, clang and its runtime for libFuzzer), installed with apt-get only
#      when something is missing;
#   2. a Python >= 3.12 (3.13 preferred): $PYTHON, pyenv's versions, /usr/bin;
#      or, with FA_PYTHON=X.Y (3.12, 3.13...), a Python of that version;
#   3. .venv at the repo root (.venv-X.Y with FA_PYTHON) with the build and
#      test dependencies from PyPI;
#   4. the extension fasterapi._native.http2 built in place into
#      src/fasterapi/_native/ (rebuilt when anything under csrc/, setup.py or
#      pyproject.toml changes), and src/ put on .venv's path by a .pth file.
#
# Exports FA_ROOT (repo root), FA_VENV (.venv) and FA_PY (.venv's python).

_fa_log() { printf 'bootstrap: %s\n' "$*" >&2; }
_fa_die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; return 1; }

_fa_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else _fa_die "not root and no sudo: cannot run $*"; fi
}

_fa_pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

_FA_APT_UPDATED=0
_fa_apt_update_once() {
    if [ "$_FA_APT_UPDATED" = 0 ]; then
        _fa_log "apt-get update"
        _fa_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        _FA_APT_UPDATED=1
    fi
}

# Installs the named Debian packages that are not installed yet.
_fa_apt_install() {
    local missing=() p
    for p in "$@"; do _fa_pkg_installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    _fa_apt_update_once || return 1
    _fa_log "apt-get install ${missing[*]}"
    _fa_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || _fa_die "apt-get install ${missing[*]} failed"
}

# The first package of the list that is installed or that apt knows about.
_fa_apt_first_known() {
    local p
    for p in "$@"; do
        if _fa_pkg_installed "$p"; then echo "$p"; return 0; fi
    done
    for p in "$@"; do
        if apt-cache show "$p" >/dev/null 2>&1; then echo "$p"; return 0; fi
    done
    return 1
}

_fa_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        _fa_log "not a Debian system: skipping apt; need gcc make pkg-config libnghttp2 curl h2load clang"
        return 0
    fi
    # libc6-dev is only a Recommends of gcc, and apt runs with --no-install-recommends
    _fa_apt_install gcc libc6-dev make pkg-config libnghttp2-dev nghttp2-client nghttp2-server curl clang \
        ca-certificates libssl-dev openssl || return 1
    # WebSockets (csrc/ws/): zlib's deflate (SHA-1 comes from libssl-dev's libcrypto)
    _fa_apt_install zlib1g-dev || return 1
    # the deployment tests (tests/python/test_deployment.py, docs/deployment.md)
    # put HAProxy and nginx in front of the server; their packaged services
    # are not used (the tests start their own on loopback ports)
    _fa_apt_install haproxy nginx-light || return 1
    # libFuzzer and the sanitizer runtimes of clang live in libclang-rt-N-dev,
    # N being clang's major version (14 on Debian 12, 19 on Debian 13).
    local major rt
    major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
    _fa_pkg_installed "libclang-rt-$major-dev" || _fa_apt_update_once || return 1
    if [ -n "$major" ] && rt=$(_fa_apt_first_known "libclang-rt-$major-dev" "libclang-rt-dev"); then
        _fa_apt_install "$rt" || return 1
    else
        _fa_log "warning: no clang runtime package found for clang $major (libFuzzer targets may fail)"
    fi
}

# Prints "major minor" of a python, or fails.
_fa_py_version() {
    "$1" -c 'import sys; print(sys.version_info[0], sys.version_info[1])' 2>/dev/null
}

_fa_py_ok() { # python >= 3.12 that runs
    local v
    v=$(_fa_py_version "$1") || return 1
    set -- $v
    [ "$1" -eq 3 ] && [ "$2" -ge 12 ]
}

_fa_find_python() {
    local cands=() root d
    [ -n "${PYTHON:-}" ] && cands+=("$PYTHON")
    root=${PYENV_ROOT:-}
    [ -z "$root" ] && command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null)
    [ -z "$root" ] && root=$HOME/.pyenv
    for d in $(ls -d "$root"/versions/3.13* 2>/dev/null | sort -V -r); do cands+=("$d/bin/python3"); done
    cands+=(/usr/bin/python3.13 /usr/local/bin/python3.13 python3.13)
    for d in $(ls -d "$root"/versions/3.12* 2>/dev/null | sort -V -r); do cands+=("$d/bin/python3"); done
    cands+=(/usr/bin/python3.12 /usr/local/bin/python3.12 python3.12 python3)
    local c
    for c in "${cands[@]}"; do
        case "$c" in */*) [ -x "$c" ] || continue ;; *) c=$(command -v "$c" 2>/dev/null) || continue ;; esac
        if _fa_py_ok "$c"; then echo "$c"; return 0; fi
    done
    return 1
}

# A python of version X.Y (FA_PYTHON): pyenv's, then /usr/bin's, then PATH's.
_fa_find_python_version() {
    local want=$1 cands=() root d c
    root=${PYENV_ROOT:-}
    [ -z "$root" ] && command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null)
    [ -z "$root" ] && root=$HOME/.pyenv
    for d in $(ls -d "$root/versions/$want" "$root/versions/$want".* 2>/dev/null | sort -V -r); do
        cands+=("$d/bin/python3")
    done
    cands+=("/usr/bin/python$want" "/usr/local/bin/python$want" "python$want")
    for c in "${cands[@]}"; do
        case "$c" in */*) [ -x "$c" ] || continue ;; *) c=$(command -v "$c" 2>/dev/null) || continue ;; esac
        if [ "$(_fa_py_version "$c")" = "${want/./ }" ]; then echo "$c"; return 0; fi
    done
    return 1
}

# Debian's own pythons need pythonX.Y-venv and pythonX.Y-dev; pyenv's have both.
_fa_python_extras() {
    local py=$1 xy
    xy=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    local need=()
    "$py" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=("python$xy-venv")
    "$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || need+=("python$xy-dev")
    [ "${#need[@]}" -eq 0 ] && return 0
    case "$py" in
        /usr/bin/*) _fa_apt_install "${need[@]}" ;;
        *) _fa_die "$py lacks ${need[*]} (venv/ensurepip or Python.h)" ;;
    esac
}

_fa_hash_build_inputs() {
    # Everything the extension's build depends on.
    (
        cd "$FA_ROOT" || exit 1
        { find csrc -type f 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum
          sha256sum setup.py pyproject.toml
          echo "FA_SANITIZE=${FA_SANITIZE:-} FA_WERROR=${FA_WERROR:-} CC=${CC:-} CFLAGS=${CFLAGS:-}"
          "$FA_PY" -c 'import sys; print(sys.version)'
        } | sha256sum | cut -d' ' -f1
    )
}

_fa_ext_path() { # the in-place extension for FA_PY's version, if built
    local suffix
    suffix=$("$FA_PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null) || return 0
    ls "$FA_ROOT/src/fasterapi/_native/http2$suffix" 2>/dev/null
}

# CPython 3.12.0-3.12.3 run own-GIL sub-interpreters safely only with the C
# library's allocator (gh-119213; see ARCHITECTURE.md): exports
# PYTHONMALLOC=malloc for FA_PY when it is one of those.
fa_python_env() {
    if "$FA_PY" -c 'import sys; sys.exit(not ((3, 12, 0) <= sys.version_info[:3] < (3, 12, 4)))'; then
        _fa_log "$("$FA_PY" -V) has CPython gh-119213: running with PYTHONMALLOC=malloc"
        export PYTHONMALLOC=malloc
    fi
}

fa_bootstrap() {
    FA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    FA_VENV=$FA_ROOT/.venv
    if [ -n "${FA_PYTHON:-}" ]; then
        case "$FA_PYTHON" in
            3.1[2-9]|3.[2-9][0-9]) FA_VENV=$FA_ROOT/.venv-$FA_PYTHON ;;
            *) _fa_die "FA_PYTHON=$FA_PYTHON: give a version such as 3.12 or 3.13 (3.12 or newer)"; return 1 ;;
        esac
    fi
    FA_PY=$FA_VENV/bin/python
    export FA_ROOT FA_VENV FA_PY

    _fa_system_packages || return 1

    # 2. python and .venv
    local venv_ok=0
    if [ -x "$FA_PY" ] && _fa_py_ok "$FA_PY"; then
        venv_ok=1
        if [ -n "${FA_PYTHON:-}" ] && [ "$(_fa_py_version "$FA_PY")" != "${FA_PYTHON/./ }" ]; then venv_ok=0; fi
    fi
    if [ "$venv_ok" = 0 ]; then
        local base
        if [ -n "${FA_PYTHON:-}" ]; then
            base=$(_fa_find_python_version "$FA_PYTHON") \
                || _fa_die "FA_PYTHON=$FA_PYTHON: no Python $FA_PYTHON found (pyenv, /usr/bin, PATH)" || return 1
        else
            base=$(_fa_find_python) || _fa_die "no Python >= 3.12 found (set PYTHON=/path/to/python3.13)" || return 1
        fi
        _fa_python_extras "$base" || return 1
        _fa_log "creating $(basename "$FA_VENV") with $base ($("$base" -c 'import sys; print(sys.version.split()[0])'))"
        rm -rf "$FA_VENV"
        "$base" -m venv "$FA_VENV" || _fa_die "venv creation failed" || return 1
    fi

    # 3. PyPI dependencies (build + tests), reinstalled when this list changes
    local deps='pip setuptools>=68 wheel pytest>=8 pytest-timeout h2>=4.1 httpx[http2]>=0.27 openapi-spec-validator pydantic>=2 fastapi==0.165.0 python-multipart==0.0.34 prometheus_client websockets>=13 wsproto>=1.2 watchfiles'
    if [ "$(cat "$FA_VENV/.fa-deps" 2>/dev/null || true)" != "$deps" ]; then
        _fa_log "pip install $deps"
        # (the filter drops pip's noise about find-links folders that do not exist)
        # shellcheck disable=SC2086
        "$FA_PY" -m pip install -q --disable-pip-version-check --upgrade $deps 2>&1 \
            | grep -v "^WARNING: Location '.*' is ignored" >&2
        [ "${PIPESTATUS[0]}" -eq 0 ] || _fa_die "pip install failed" || return 1
        echo "$deps" >"$FA_VENV/.fa-deps"
    fi

    # 4. src/ on the venv's path (an in-place "editable" install)
    local site
    site=$("$FA_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if [ "$(cat "$site/_fasterapi_src.pth" 2>/dev/null || true)" != "$FA_ROOT/src" ]; then
        echo "$FA_ROOT/src" >"$site/_fasterapi_src.pth"
    fi

    # 5. the extension, rebuilt in place when its inputs change
    local stamp want
    want=$(_fa_hash_build_inputs)
    stamp=$(cat "$FA_VENV/.fa-build" 2>/dev/null || true)
    if [ -z "$(_fa_ext_path)" ] || [ "$stamp" != "$want" ]; then
        _fa_log "building fasterapi._native.http2 (setup.py build_ext --inplace)"
        rm -f "$FA_VENV/.fa-build"
        (cd "$FA_ROOT" && "$FA_PY" setup.py -q build_ext --inplace --force -j "$(nproc 2>/dev/null || echo 2)" \
            >"$FA_VENV/build.log" 2>&1) || {
            tail -n 60 "$FA_VENV/build.log" >&2
            _fa_die "building the extension failed (full log: .venv/build.log)"
            return 1
        }
        echo "$want" >"$FA_VENV/.fa-build"
    fi
    "$FA_PY" -c 'import fasterapi._native.http2' || _fa_die "fasterapi._native.http2 does not import" || return 1
    _fa_log "ready: $("$FA_PY" -c 'import sys; print(sys.version.split()[0])') in $(basename "$FA_VENV"), extension $(basename "$(_fa_ext_path)")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    fa_bootstrap || exit 1
else
    fa_bootstrap || return 1
fi
