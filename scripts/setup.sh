#!/usr/bin/env bash
# Create .venv with Headwater and its dev tools. Safe to run again: it only installs what
# changed. Needs Python 3.11 and the package registry; nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "Headwater needs Python 3.11 (found $("$PYTHON" --version)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}

# uv resolves and installs in seconds where pip takes minutes.
if ! command -v uv >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet uv
fi
[ -x .venv/bin/python ] || uv venv --quiet --python "$PYTHON" .venv
# Precompiled bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every command
# would otherwise recompile Prefect and dlt, about 7 s per process on 2 cores.
VIRTUAL_ENV="$PWD/.venv" uv pip install --quiet --compile-bytecode -e ".[dev]"
echo "environment ready: .venv ($(.venv/bin/python --version))"
