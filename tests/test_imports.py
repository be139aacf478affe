"""The import contract (pyproject's [tool.importlinter], run by scripts/test.sh and so by CI): it holds on
the code, and it fails, naming the contract, on a copy of the code with one forbidden import added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (the dev extra)")


def _lint(copy: Path | None = None) -> subprocess.CompletedProcess:
    """lint-imports over the installed package, or over `copy` (a root whose lightretriever/ comes first)."""
    env = {"PATH": str(LINT_IMPORTS.parent), **({"PYTHONPATH": str(copy)} if copy else {})}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
                          capture_output=True, text=True, cwd=copy or ROOT, env=env)


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    for folder in ("components", "training", "pipelines"):
        shutil.copytree(ROOT / folder, tmp_path / "lightretriever" / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "lightretriever" / module, "a", encoding="utf-8") as source:
        source.write(f"\n{line}\n")
    return tmp_path


def test_the_code_keeps_the_import_contract():
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("components/texts.py", "import torch", "the query path imports no torch or transformers"),
    ("components/sparse.py", "from lightretriever.training import build",
     "components import neither training nor pipelines"),
    ("training/losses.py", "from lightretriever.pipelines import metrics", "training never imports pipelines"),
    ("components/tables.py", "from . import query_encoder", "no import cycles between the modules of a package"),
])
def test_a_forbidden_import_breaks_the_contract_it_names(tmp_path, module, line, contract):
    result = _lint(_copy_with(tmp_path, module, line))
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
