"""A model folder's ``checksums.json``: the sha256 of every file, written on save and checked on load."""

from __future__ import annotations

import json
from pathlib import Path

from unihub.foundation.files import ChecksumError, atomic_write, sha256_file, verify  # noqa: F401  (re-exported)

MANIFEST = "checksums.json"


def write_manifest(directory: str | Path, names: list[str]) -> dict[str, str]:
    """Record the sha256 of ``names`` in ``directory/checksums.json``."""
    directory = Path(directory)
    sums = {n: sha256_file(directory / n) for n in sorted(names)}
    atomic_write(directory / MANIFEST, lambda p: Path(p).write_text(json.dumps(sums, indent=1) + "\n"))
    return sums


def read_manifest(directory: str | Path) -> dict[str, str] | None:
    p = Path(directory) / MANIFEST
    return json.loads(p.read_text()) if p.exists() else None
