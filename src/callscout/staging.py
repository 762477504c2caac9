"""Files: a file's sha256; copies kept beside their source: whether one is still current, and
a folder written whole.

A run that is stopped halfway, or two runs writing the same copy at once, must never leave a
half-written model where a later run would load it; so a folder is filled under a temporary
name next to its target and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's sha256, read in blocks (a recording, a model file)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_up_to_date(copy: Path, source: str | os.PathLike[str]) -> bool:
    """Whether ``copy`` exists and is not older than ``source`` (else it is to be made again)."""
    return copy.exists() and copy.stat().st_mtime >= os.stat(source).st_mtime


class StagedFolder:
    """A folder being filled beside ``target``; it takes ``target``'s place on ``swap_in``."""

    def __init__(self, path: Path, target: Path):
        self.path = path
        self.target = target
        self.aside = path.with_name(f"{path.name}-old")  # where the replaced target goes

    def swap_in(self) -> None:
        """Put the filled folder at ``target``, the one there before moved out of the way first:
        a run may be loading it right now."""
        if self.target.exists():
            os.replace(self.target, self.aside)
        os.replace(self.path, self.target)


@contextmanager
def staged_folder(target: Path) -> Iterator[StagedFolder]:
    """An empty folder next to ``target`` (on its file system, so the swap is a rename); left
    without ``swap_in``, nothing changes at ``target``. Either way, on leaving, the staging
    folder and the replaced target are removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = StagedFolder(Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent)), target)
    try:
        yield staged
    finally:
        shutil.rmtree(staged.path, ignore_errors=True)
        shutil.rmtree(staged.aside, ignore_errors=True)
