#!/usr/bin/env bash
# The test command: installs what the tests need, checks the import contract (pyproject's
# [tool.importlinter]: pipelines -> training -> components, a torch-free query path, no import cycles),
# then runs the whole suite (slow real-model tests included) — the full tier, what CI runs.
# The fast tier: `bash scripts/test.sh -m "not slow"` (no training, LoRA or real-model indexing runs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
lint-imports
python -m pytest "$@"
