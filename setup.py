"""Builds the C extension fasterapi._native.http2.

Two extensions: fasterapi._native.http2 (the server: every .c file under
csrc/ except the JSON module's binding; fragments named *.c.h are included by
their .c file) and fasterapi._native.json (the JSON encoder).  libnghttp2 and
OpenSSL 3 (libssl, libcrypto: TLS) come from pkg-config.  Optional nghttp2 symbols
that Debian backports without bumping the version are detected by linking a
probe, not by the version macro.

Environment switches:
  FA_SANITIZE=1   build with -fsanitize=address,undefined (tests run it with
                  the sanitizer runtime preloaded)
  FA_WERROR=0     do not turn warnings into errors (default: -Werror)
"""
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent


def pkg_config(*args, lib="libnghttp2", deb="libnghttp2-dev"):
    try:
        out = subprocess.check_output(["pkg-config", *args, lib], text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(f"pkg-config could not find {lib} ({exc}); install {deb} and pkg-config")
    return shlex.split(out)


def has_symbol(symbol, libs):
    """Links a tiny program that takes the symbol's address."""
    src = f"extern char {symbol}(void);\nint main(void) {{ return (int)(long)&{symbol}; }}\n"
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "probe.c")
        Path(c).write_text(src)
        cc = os.environ.get("CC", "cc")
        r = subprocess.run([cc, c, "-o", os.path.join(d, "probe"), *libs],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
# TLS: OpenSSL 3's libssl (Debian's libssl-dev), for the server only
ssl_cflags = pkg_config("--cflags", lib="libssl", deb="libssl-dev")
ssl_libs = pkg_config("--libs", lib="libssl", deb="libssl-dev") + \
    pkg_config("--libs", lib="libcrypto", deb="libssl-dev")
# The WebSocket layer (csrc/ws/): SHA-1 of the handshake from libcrypto,
# permessage-deflate from zlib.
ws_libs = pkg_config("--libs", lib="libcrypto", deb="libssl-dev") + \
    pkg_config("--libs", lib="zlib", deb="zlib1g-dev")
libs += ws_libs
macros = []
for sym, macro in [("nghttp2_option_set_stream_reset_rate_limit", "FA_HAVE_NGHTTP2_STREAM_RESET_RATE_LIMIT"),
                   ("nghttp2_option_set_max_continuations", "FA_HAVE_NGHTTP2_MAX_CONTINUATIONS")]:
    if has_symbol(sym, libs):
        macros.append((macro, "1"))

extra_compile = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-fvisibility=hidden",
                 "-Wno-missing-field-initializers", "-D_GNU_SOURCE"] + cflags
if os.environ.get("FA_WERROR", "1") != "0":
    extra_compile.append("-Werror")
extra_link = ["-pthread"] + libs
if os.environ.get("FA_SANITIZE") == "1":
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    extra_compile += san
    extra_link += san

all_sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*.c"))
json_module = "csrc/json/module.c"
# The server: every C file but the JSON module's binding (it links the
# encoder itself).
http2_sources = [s for s in all_sources if s != json_module]
json_sources = [s for s in all_sources if s.startswith("csrc/json/")] + ["csrc/common/buf.c"]


def extension(name, sources, tls=False):
    return Extension(
        name,
        sources=sources,
        define_macros=macros,
        extra_compile_args=extra_compile + (ssl_cflags if tls else []),
        extra_link_args=extra_link + (ssl_libs if tls else []),
    )


ext_modules = [extension("fasterapi._native.http2", http2_sources, tls=True)]
if json_module in all_sources:
    ext_modules.append(extension("fasterapi._native.json", json_sources))

setup(ext_modules=ext_modules)
