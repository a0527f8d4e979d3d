#!/usr/bin/env bash
# serve.sh - takes a fresh machine to serving examples/hello.py on port 8080.
# Installs what is missing (scripts/bootstrap.sh), then runs the example with
# .venv's python (FA_PYTHON=3.12: .venv-3.12's); arguments are passed through.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
fa_python_env
exec "$FA_PY" examples/hello.py "$@"
