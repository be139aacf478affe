"""The one way an artifact folder is written: staged in `OUT.partial`, published whole by a rename.

`components/artifact.py` reads and validates the layout; this module writes it (build, train, adapt and
the quickstart assets all go through it)::

    with ArtifactWriter(out, overwrite=overwrite) as writer:
        writer.copy_file(source, "tokenizer.json")   # or link_file / copy_tree / link_document_model
        save_table(writer.root / spec.file, ...)     # any other file: write it under writer.root
        writer.write_config(config)                  # lightretriever.json, from a checked ArtifactConfig
    # here OUT is complete; had the block raised, OUT would be untouched and no OUT.partial left

Why staging: an interrupted build must never leave a half-written folder under the real name, where a
later `Artifact.load` (or an index fingerprint) would take it for an artifact. An existing non-empty OUT
is refused unless `overwrite`, both on entry (before hours of work) and at publish (it may appear
meanwhile); an empty folder is not an artifact and is simply replaced. Overwriting moves the old OUT
aside first, so OUT is the old artifact or the new one at every moment, never a mix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lightretriever.components.artifact import CONFIG_NAME, Artifact, ArtifactConfig
from lightretriever.components.errors import ArtifactError


class ArtifactWriter:
    """A context manager around the staging folder `OUT.partial` (`root`), renamed to OUT on success."""

    def __init__(self, out: str | Path, *, overwrite: bool = False):
        self.out = Path(out).expanduser()
        self.overwrite = overwrite
        self.root = self.out.with_name(self.out.name + ".partial")

    def check_target(self) -> None:
        """Refuse an existing, non-empty OUT unless overwriting (callers may call it early, before the work)."""
        if self.overwrite or not self.out.exists():
            return
        if not self.out.is_dir() or any(self.out.iterdir()):
            raise ArtifactError(f"{self.out} already exists and is not empty; "
                                "pass overwrite=True (--overwrite) to replace it")

    def __enter__(self) -> "ArtifactWriter":
        self.check_target()
        shutil.rmtree(self.root, ignore_errors=True)  # a stale one from an interrupted run
        self.root.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            return False
        try:
            self._publish()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return False

    # -- helpers for what goes into the staging folder ---------------------------------------------
    def write_config(self, config: ArtifactConfig) -> None:
        """lightretriever.json, checked first: a config the loader would refuse is never written."""
        config.check_values()
        (self.root / CONFIG_NAME).write_text(config.to_json(), encoding="utf-8")

    def copy_file(self, source: Path, relative: str) -> None:
        dest = self._destination(relative)
        shutil.copyfile(source, dest)

    def link_file(self, source: Path, relative: str) -> None:
        """A hard link where the file system allows (nothing duplicated; shared bytes cannot drift), else a copy."""
        dest = self._destination(relative)
        try:
            dest.hardlink_to(source)
        except OSError:
            shutil.copyfile(source, dest)

    def copy_tree(self, source: Path, ignore=None) -> None:
        """Everything under `source` into the staging folder (`ignore` as for shutil.copytree)."""
        shutil.copytree(source, self.root, ignore=ignore, dirs_exist_ok=True)

    def link_document_model(self, source: Artifact) -> None:
        """`source`'s document encoder files, byte for byte (hard-linked), under the same relative paths."""
        dm = source.config.document_model
        folder = dm.path if dm.path is not None else dm.adapter
        for file in sorted((source.root / folder).rglob("*")):
            if file.is_file():
                self.link_file(file, str(Path(folder) / file.relative_to(source.root / folder)))

    def _destination(self, relative: str) -> Path:
        dest = self.root / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    # -- publishing ------------------------------------------------------------------------------------
    def _publish(self) -> None:
        self.check_target()  # OUT may have appeared while the artifact was being made
        if not self.out.exists():
            self.root.replace(self.out)
            return
        replaced = self.out.with_name(self.out.name + ".replaced")
        shutil.rmtree(replaced, ignore_errors=True)
        self.out.replace(replaced)  # aside first: OUT is the old artifact or the new one, never a mix
        self.root.replace(self.out)
        if replaced.is_dir():
            shutil.rmtree(replaced)
        else:
            replaced.unlink()
