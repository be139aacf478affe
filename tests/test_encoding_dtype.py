"""The document side's forward dtype: "auto" = bf16 where the CPU (or GPU) runs it natively, float32
elsewhere; an explicit `dtype=` overriding; bf16 vectors agreeing with float32 ones on the packaged MiniLM."""

import numpy as np
import pytest
import torch

from lightretriever.components import DocumentEncoder
from lightretriever.components.backbones import (NATIVE_BF16_FLAGS, bf16_matmul_is_faster, cpu_flags,
                                                 cpu_has_native_bf16, default_dtype, resolve_dtype)

CPU = torch.device("cpu")
OLD_CPU = frozenset({"sse4_2", "avx2", "fma", "avx512f"})  # AVX-512 without its bf16 extension
TEXTS = [
    "Aspirin reduces the risk of myocardial infarction in patients with cardiovascular disease.",
    "Insulin resistance is a hallmark of type 2 diabetes, and exercise improves insulin sensitivity.",
    "The Eiffel tower stands on the Champ de Mars in Paris, France, and was completed in 1889.",
    "Paris",
]


def _never_measured() -> bool:
    raise AssertionError("the timing check runs only where the flags promise native bf16")


@pytest.mark.parametrize("flag", sorted(NATIVE_BF16_FLAGS))
def test_a_cpu_with_native_bf16_gets_bf16_when_it_measures_faster(flag):
    assert cpu_has_native_bf16(OLD_CPU | {flag})
    assert default_dtype(CPU, flags=OLD_CPU | {flag}, bf16_is_faster=lambda: True) == torch.bfloat16


def test_a_cpu_whose_bf16_measures_slower_keeps_float32():
    assert default_dtype(CPU, flags=OLD_CPU | {"amx_bf16"}, bf16_is_faster=lambda: False) == torch.float32


@pytest.mark.parametrize("flags", [OLD_CPU, frozenset()])  # no bf16 extension; no /proc/cpuinfo (macOS)
def test_a_cpu_without_native_bf16_gets_float32_without_timing_anything(flags):
    assert not cpu_has_native_bf16(flags)
    assert default_dtype(CPU, flags=flags, bf16_is_faster=_never_measured) == torch.float32


def test_this_machine_is_decided_by_its_own_flags_and_a_cached_measurement():
    assert isinstance(cpu_flags(), frozenset) and cpu_flags() is cpu_flags()
    faster = bf16_matmul_is_faster()
    assert isinstance(faster, bool) and bf16_matmul_is_faster() is faster  # measured once per process
    expected = torch.bfloat16 if cpu_has_native_bf16(cpu_flags()) and faster else torch.float32
    assert default_dtype(CPU) == expected == resolve_dtype("auto", CPU)


def test_no_dtype_is_auto_on_every_device():
    assert resolve_dtype(None, CPU) == resolve_dtype("auto", CPU) == default_dtype(CPU)


@pytest.mark.parametrize("given, expected", [("float32", torch.float32), ("bfloat16", torch.bfloat16),
                                             (torch.float16, torch.float16)])
def test_an_explicit_dtype_overrides_the_default(given, expected):
    assert resolve_dtype(given, CPU) == expected


def test_an_unknown_dtype_names_the_choices():
    with pytest.raises(ValueError, match="expected auto, float32, bfloat16 or float16"):
        resolve_dtype("int8", CPU)


@pytest.fixture(scope="module")
def both(minilm_artifact):
    """The same texts through a float32 and a bf16 encoder (explicit: this runs on any CPU)."""
    fp32 = DocumentEncoder(minilm_artifact, device="cpu", dtype="float32")
    bf16 = DocumentEncoder(minilm_artifact, device="cpu", dtype="bfloat16")  # what "auto" picks with native bf16
    return fp32, bf16, fp32.encode(TEXTS, show_progress=False), bf16.encode(TEXTS, show_progress=False)


def test_the_override_reaches_the_weights_and_vectors_stay_float32(both):
    fp32, bf16, out32, out16 = both
    assert fp32.dtype == torch.float32 and next(fp32.backbone.model.parameters()).dtype == torch.float32
    assert bf16.dtype == torch.bfloat16 and next(bf16.backbone.model.parameters()).dtype == torch.bfloat16
    assert out16.dense.dtype == np.float32 and out16.sparse.values.dtype == np.float32  # what a store receives
    np.testing.assert_allclose(np.linalg.norm(out16.dense, axis=1), 1.0, atol=1e-5)


def test_bf16_vectors_agree_with_float32(both):
    """The benchmark's targets on a few documents: dense cosine >= 0.995, sparse top-10 overlap >= 0.95
    (of the float32 top terms; "Paris" has one)."""
    *_, out32, out16 = both
    assert (out32.dense * out16.dense).sum(axis=1).min() >= 0.995
    overlap = [len(set(_top10(a)) & set(_top10(b))) / len(_top10(a)) for a, b in zip(out32.sparse, out16.sparse)]
    assert np.mean(overlap) >= 0.95


def _top10(vector) -> list[int]:
    return vector.indices[np.argsort(-vector.values, kind="stable")[:10]].tolist()
