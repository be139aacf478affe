"""The three root folders install as one `lightretriever` namespace in a normal (wheel) install too."""

import subprocess
import sys
import zipfile


def test_wheel_maps_root_folders_into_the_lightretriever_namespace(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
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
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lightretriever = lightretriever.pipelines.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
