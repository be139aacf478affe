"""README's Python snippet runs as written (against a freshly built MiniLM artifact)."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_readme_python_snippet_runs(minilm_artifact):
    (snippet,) = python_blocks()
    namespace: dict = {}
    exec(snippet.replace('"artifacts/minilm"', repr(str(minilm_artifact.root))), namespace)
    q, d = namespace["q"], namespace["d"]
    assert q.dense.shape == (1, 384) and abs(np.linalg.norm(q.dense[0]) - 1) < 1e-5
    assert d.dense.shape == (1, 384) and len(d.sparse[0]) > 0
    assert float(d.dense[0] @ q.dense[0]) > 0.1  # aspirin query vs aspirin document
