"""Query-table export: row t = the model's pooled output for `[bos] + instruction + [t] + [eos]`.

Causal backbones compute the `[bos] + instruction` prefix once and reuse its key/value cache
for every token, so each row costs a 2-token forward instead of a (P + 2)-token one. Encoder
backbones attend bidirectionally (the prefix states depend on the token), so they run the
whole short sequence per token and pool it like documents.
Rows are stored unnormalised: the query is the normalised mean of its rows.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence

import numpy as np
import torch

from lightretriever.components.artifact import Artifact, QueryTableSpec, special_token_ids
from lightretriever.components.backbones import Backbone, config_prefix_ids, pool_dense
from lightretriever.components.progress import progress
from lightretriever.components.tables import EXPORT_METHODS, save_table, save_token_weights

from .zero_shot import COMMON_TENSOR, ZIPF_NOTE, zero_shot_rows, zipf_weights

@torch.inference_mode()
def export_query_table(backbone: Backbone, artifact: Artifact, instruction: str, token_ids: Sequence[int] | None = None,
                       method: str = "auto", batch_size: int = 512, show_progress: bool = True) -> np.ndarray:
    """float32 `[len(token_ids), dim]` rows (all vocabulary ids by default)."""
    if method not in EXPORT_METHODS:
        raise ValueError(f"method {method!r}: expected one of {EXPORT_METHODS}")
    config = artifact.config
    prefix = config_prefix_ids(config, artifact.tokenizer(), instruction)
    ids = np.arange(config.vocab_size) if token_ids is None else np.asarray(token_ids)
    if method == "auto":
        method = "prefix-kv" if backbone.kind == "decoder" and backbone.pooling == "last" else "naive"
    if method == "prefix-kv" and (backbone.kind != "decoder" or backbone.pooling != "last"):
        raise ValueError("prefix-kv export needs a causal (decoder) backbone with last-token pooling: "
                         "encoder prefix states depend on the token")
    device = next(backbone.body.parameters()).device
    rows = np.empty((len(ids), config.dense_dim), dtype=np.float32)
    run = _prefix_kv_rows if method == "prefix-kv" else _full_rows
    state = _prefix_cache(backbone, prefix, device) if method == "prefix-kv" else None
    with progress(len(ids), unit="tok", desc=f"Exporting query table ({method})", enabled=show_progress) as bar:
        for start in range(0, len(ids), batch_size):
            chunk = torch.as_tensor(ids[start:start + batch_size], dtype=torch.long, device=device)
            rows[start:start + len(chunk)] = run(backbone, prefix, chunk, config.special_tokens.eos_id, state).float().cpu().numpy()
            bar.update(len(chunk))
    return rows


def _full_rows(backbone: Backbone, prefix: list[int], tokens: torch.Tensor, eos: int, _state) -> torch.Tensor:
    batch = tokens.shape[0]
    head = torch.tensor(prefix, dtype=torch.long, device=tokens.device).expand(batch, -1)
    tail = torch.full((batch, 1), eos, dtype=torch.long, device=tokens.device)
    input_ids = torch.cat([head, tokens[:, None], tail], dim=1)
    attention = torch.ones_like(input_ids)
    return pool_dense(backbone.hidden(input_ids, attention), attention, backbone.pooling)


def _prefix_cache(backbone: Backbone, prefix: list[int], device: torch.device):
    input_ids = torch.tensor([prefix], dtype=torch.long, device=device)
    return backbone.body(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), use_cache=True).past_key_values


def _prefix_kv_rows(backbone: Backbone, prefix: list[int], tokens: torch.Tensor, eos: int, cache) -> torch.Tensor:
    batch, p = tokens.shape[0], len(prefix)
    cache = copy.deepcopy(cache)  # the forward appends to the cache: keep the prefix pristine
    cache.batch_repeat_interleave(batch)
    input_ids = torch.stack([tokens, torch.full_like(tokens, eos)], dim=1)
    position_ids = torch.arange(p, p + 2, device=tokens.device).expand(batch, -1)
    attention = torch.ones((batch, p + 2), dtype=torch.long, device=tokens.device)
    out = backbone.body(input_ids=input_ids, attention_mask=attention, position_ids=position_ids,
                        use_cache=True, **{_cache_argument(backbone.body): cache})
    return out.last_hidden_state[:, -1]  # the EOS state = "last" pooling


def _cache_argument(body: torch.nn.Module) -> str:
    """transformers 5.x renamed the forward's `past_key_values` to `cache`; accept both."""
    return "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"


def write_query_table(backbone: Backbone, artifact: Artifact, name: str, instruction: str, dtype: str = "float32",
                      method: str = "auto", batch_size: int = 512, make_default: bool = False,
                      show_progress: bool = True, zero_shot: bool = False) -> None:
    """Export every row, save `tables/<name>.safetensors` and record it in lightretriever.json.
    `zero_shot=True` (an untrained model's table) centres the rows and applies the Zipf prior
    (training/zero_shot.py); a trained model's rows are stored as exported."""
    rows = export_query_table(backbone, artifact, instruction, method=method, batch_size=batch_size,
                              show_progress=show_progress)
    notes, extra, token_weights = {"rows": "exported"}, {}, None
    if zero_shot:
        rows, extra[COMMON_TENSOR] = zero_shot_rows(rows, special_token_ids(artifact.tokenizer()))
        notes = {"rows": "exported, centred", "weights": ZIPF_NOTE}
        token_weights = f"tables/{name}.token-weights.safetensors"  # the same prior for the sparse query
        save_token_weights(artifact.root / token_weights, zipf_weights(len(rows)), ZIPF_NOTE)
    spec = QueryTableSpec(file=f"tables/{name}.safetensors", instruction=instruction, dtype=dtype, notes=notes,
                          token_weights=token_weights)
    save_table(artifact.root / spec.file, rows, dtype, instruction, extra=extra)
    artifact.config.tables[name] = spec
    if make_default or artifact.config.default_table not in artifact.config.tables:
        artifact.config.default_table = name
    artifact.save_config()
