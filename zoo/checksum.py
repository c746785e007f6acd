"""sha256 of files, and refusal to use anything that does not match."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "checksums.json"


class ChecksumError(ValueError):
    """A file's sha256 differs from the one recorded for it."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, expected: str, delete_bad: bool = False) -> Path:
    """Return ``path`` if its sha256 is ``expected``; else raise (and optionally delete the bad copy)."""
    path = Path(path)
    got = sha256_file(path)
    if got != expected:
        if delete_bad:
            path.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {got}"
            + ("; the corrupt cached copy was removed, retry to download it again" if delete_bad else "")
        )
    return path


def write_manifest(directory: str | Path, names: list[str]) -> dict[str, str]:
    """Record the sha256 of ``names`` in ``directory/checksums.json``."""
    from foundation.model.io import atomic_write

    directory = Path(directory)
    sums = {n: sha256_file(directory / n) for n in sorted(names)}
    atomic_write(directory / MANIFEST, lambda p: Path(p).write_text(json.dumps(sums, indent=1) + "\n"))
    return sums


def read_manifest(directory: str | Path) -> dict[str, str] | None:
    p = Path(directory) / MANIFEST
    return json.loads(p.read_text()) if p.exists() else None
