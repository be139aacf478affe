"""The wheel: the three root folders install as one `lightretriever` namespace, and its core install
(no extra) serves queries without torch."""

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest


@pytest.mark.slow
def test_wheel_maps_root_folders_into_the_lightretriever_namespace(tmp_path):
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(root)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("lightretriever-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    sources = [p.relative_to(root).as_posix() for folder in ("components", "pipelines", "training")
               for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts]
    assert "components/store/store.py" in sources
    missing = [s for s in sources if f"lightretriever/{s}" not in names]
    assert not missing, f"not in the wheel (add the package to pyproject's `packages`): {missing}"
    assert not any(n.startswith(("tests/", "benchmarks/", "components/")) for n in names)
    aliases = ["llama_index/embeddings/lightretriever/__init__.py",
               "llama_index/sparse_embeddings/lightretriever/__init__.py",
               "llama_index/retrievers/lightretriever/__init__.py"]
    assert not [a for a in aliases if a not in names], "LlamaIndex import paths missing from the wheel"
    # `llama_index` and its sub-namespaces belong to llama-index-core & co: an __init__.py of ours would shadow them
    shadowing = {"llama_index/__init__.py", "llama_index/embeddings/__init__.py",
                 "llama_index/sparse_embeddings/__init__.py", "llama_index/retrievers/__init__.py"}
    assert not shadowing & set(names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lightretriever = lightretriever.pipelines.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# Run inside the core-only venv: the committed quickstart query side, a few committed document vectors,
# one hybrid search. The schema is made by hand because the artifact ships without the document weights.
CORE_PROBE = r"""
import gzip, json, sys
import numpy as np
from safetensors.numpy import load_file
from lightretriever.components import Artifact, HybridSearcher, QueryEncoder, SparseVector
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument

assets, store_dir, n = sys.argv[1], sys.argv[2], 64
artifact = Artifact.load(f"{assets}/minilm-scifact")
vectors = load_file(f"{assets}/scifact-minilm-vectors.safetensors")
with gzip.open(f"{assets}/../scifact/corpus.jsonl.gz", "rt") as lines:
    docs = [json.loads(next(lines)) for _ in range(n)]
ptr = vectors["sparse_indptr"]
sparse = [SparseVector(indices=vectors["sparse_indices"][ptr[i]:ptr[i + 1]].astype(np.int64),
                       values=vectors["sparse_values"][ptr[i]:ptr[i + 1]].astype(np.float32)) for i in range(n)]
schema = CollectionSchema(dense_dim=artifact.config.dense_dim, vocab_size=artifact.config.vocab_size,
                          document_fingerprint="core-install-test")
store = QdrantHybridStore(store_dir, collection="core", schema=schema)
store.upsert([StoredDocument(id=d["_id"], text=d["text"], title=d.get("title", "")) for d in docs],
             vectors["dense"][:n].astype(np.float32), sparse)
searcher = HybridSearcher(encoder=QueryEncoder(artifact), store=store, mode="hybrid")
target = docs[7]
hits = searcher.search(target["title"], k=3).hits
assert "torch" not in sys.modules, "the query path imported torch"
print(json.dumps({"top": [h.id for h in hits], "target": target["_id"]}))
"""


@pytest.mark.slow
def test_core_install_serves_queries_without_torch_and_names_the_documents_extra(tmp_path):
    """The wheel with its core dependencies only (no torch): QueryEncoder + hybrid search work, and a
    command that needs the document model exits 2 naming `lightretriever[documents]`."""
    root = Path(__file__).resolve().parents[1]
    try:
        venv.EnvBuilder(with_pip=True, system_site_packages=False).create(tmp_path / "venv")
    except Exception as exc:  # no ensurepip on this Python: nothing to test the install with
        pytest.skip(f"cannot create a venv: {exc}")
    bin_dir = tmp_path / "venv" / "bin"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(root)], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("lightretriever-*.whl"))
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    python = str(bin_dir / "python")
    assert subprocess.run([python, "-c", "import torch"], capture_output=True).returncode != 0, "torch installed"

    probe = subprocess.run([python, "-c", CORE_PROBE, str(root / "data/quickstart"), str(tmp_path / "store")],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["target"] in result["top"], result

    index = subprocess.run([bin_dir / "lightretriever", "index", str(root / "data/quickstart/minilm-scifact"),
                            "--corpus", str(root / "data/scifact/corpus.jsonl.gz"), "--store",
                            str(tmp_path / "store2")], capture_output=True, text=True, cwd=tmp_path)
    assert index.returncode == 2, index.stderr
    assert index.stderr.count("\n") == 1 and "install lightretriever[documents]" in index.stderr, index.stderr


def test_missing_extra_names_the_extra_of_known_modules_only():
    from lightretriever.components.errors import LightRetrieverError
    from lightretriever.components.extras import missing_extra

    error = missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"), "encode documents")
    assert isinstance(error, (LightRetrieverError, ImportError))
    assert "encode documents needs torch" in str(error) and "install lightretriever[documents]" in str(error)
    assert "lightretriever[haystack]" in str(missing_extra(ModuleNotFoundError(name="haystack.dataclasses"), "x"))
    assert missing_extra(ModuleNotFoundError(name="no_such_module"), "x") is None  # a real bug stays a bug


# torch hidden (None in sys.modules makes `import torch` fail as if it were not installed)
NO_TORCH = "import sys; sys.modules['torch'] = None; "


def test_without_torch_the_document_encoder_and_index_name_the_documents_extra(tmp_path):
    api = subprocess.run([sys.executable, "-c", NO_TORCH + "from lightretriever.components import QueryEncoder\n"
                          "try:\n from lightretriever.components import DocumentEncoder\n"
                          "except ImportError as e: print(type(e).__name__, e)"], capture_output=True, text=True)
    assert api.stdout.startswith("MissingExtraError") and "install lightretriever[documents]" in api.stdout, api
    root = Path(__file__).resolve().parents[1]
    cli = subprocess.run([sys.executable, "-c", NO_TORCH + "from lightretriever.pipelines.cli import main; "
                          "sys.exit(main(sys.argv[1:]))", "index", str(root / "data/quickstart/minilm-scifact"),
                          "--corpus", str(root / "data/scifact/corpus.jsonl.gz"), "--store", str(tmp_path / "s")],
                         capture_output=True, text=True)
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1, cli.stderr
    assert "install lightretriever[documents]" in cli.stderr, cli.stderr
