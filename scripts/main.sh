#!/usr/bin/env bash
# The main job: install, then `lightretriever quickstart` — a LightRetriever (all-MiniLM-L6-v2) adapted to SciFact's
# corpus without labels indexes SciFact into the embedded Qdrant engine, answers example claims, and is evaluated
# against the full model and BM25 (quality and speed). Extra arguments pass through, e.g. `bash scripts/main.sh --adapt`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
lightretriever quickstart "$@"
