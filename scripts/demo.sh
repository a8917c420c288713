#!/usr/bin/env bash
# One command for the demo: install, generate the demo data, sync every demo source through
# Prefect flows, then print the warehouse tables and where the Prefect UI is.
# Extra arguments go to `headwater demo` (e.g. --rows 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/headwater demo --project project.yml "$@"
