"""Artifact and store paths of Haystack components: kept as given, resolved when the component is made.

A pipeline YAML carries the paths as they were written ("artifacts/minilm"), so that it stays portable;
a relative one is resolved against the working directory at init (a later chdir does not move it) and
checked when the component first needs it, with an error that names that directory: loading the YAML
from another directory otherwise fails with a bare "does not exist" far from its cause.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ArtifactError


def resolved(given: str) -> Path:
    """`given` as an absolute path, resolved against the working directory now."""
    path = Path(given).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def checked_artifact(given: str, root: Path, component: str) -> Path:
    """`root` (resolved from `given`) if it is a directory, else an ArtifactError naming the base directory."""
    if root.is_dir():
        return root
    if Path(given).expanduser().is_absolute():
        raise ArtifactError(f"{component}: artifact directory {root} does not exist; create one with "
                            f"`lightretriever build BASE {root}` or fix model=")
    base = _base_of(given, root)
    raise ArtifactError(
        f"{component}: model={given!r} is relative and was resolved against the working directory {base} "
        f"(when the component was made), giving {root}, which does not exist; load the pipeline from the "
        "directory it was saved in, or give the artifact's absolute path")


def _base_of(given: str, root: Path) -> Path:
    """The directory a relative `given` was joined to, to make `root`."""
    base = root
    for _ in Path(given).parts:
        base = base.parent
    return base
