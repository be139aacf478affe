"""House rules that keep the code one would live in: small functions (the issue "one house": none over
60 lines in the shipped packages), measured on the source tree so a long function fails the suite."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "pipelines", "training")
LIMIT = 60


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_no_function_in_the_packages_is_longer_than_sixty_lines():
    files = [f for package in PACKAGES for f in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 90  # the walk found the packages
    long = [f"{f.relative_to(ROOT)}:{line} {name} ({length} lines)"
            for f in files for name, line, length in _functions(f) if length > LIMIT]
    assert not long, "split these functions: " + "; ".join(long)


def test_the_length_check_sees_a_long_function(tmp_path):
    source = tmp_path / "long.py"
    source.write_text("def long():\n" + "    x = 1\n" * LIMIT + "    return x\n", encoding="utf-8")
    assert [length for _, _, length in _functions(source)] == [LIMIT + 2]
