"""``load_model(name_or_path)``: registry names, local folders/files, ``hf://`` and ``https://``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from unihub.zoo.checksum import ChecksumError, read_manifest, verify
from unihub.zoo.models import UniversalModel, model_kind
from unihub.zoo.registry import Entry, resolve

PACKAGE_DIR = Path(__file__).parent


def models_cache() -> Path:
    from unihub.foundation.files import cache_dir

    return cache_dir() / "models"


def _fetch_url(base: str, name: str, expected: str | None) -> Path:
    from unihub.foundation.files import download

    dest = models_cache() / hashlib.sha256(base.encode()).hexdigest()[:16] / name
    if dest.exists():
        return verify(dest, expected, delete_bad=True) if expected else dest
    return download(f"{base.rstrip('/')}/{name}", dest, expected)


def materialise(location: str, files: dict[str, str] | None) -> Path:
    """A local folder holding the model's files, each checked against its sha256.

    With no registry checksums (a bare hf:// or https:// location), the folder's own
    ``checksums.json`` is fetched first and every other file is checked against it.
    """
    if location.startswith("package:"):
        folder = PACKAGE_DIR / location.split(":", 1)[1]
        for name, sha in (files or {}).items():
            verify(folder / name, sha)
        return folder
    if location.startswith(("hf://", "https://", "http://")):
        from unihub.zoo import hub

        def get(name: str, sha: str | None) -> Path:
            if location.startswith("hf://"):
                p = hub.fetch(location, name)
                if sha:
                    try:
                        verify(p, sha)
                    except ChecksumError:
                        # a corrupt cached blob must not be reused: drop it (and its snapshot link)
                        Path(p).unlink(missing_ok=True)
                        raise
                return p
            return _fetch_url(location, name, sha)

        if not files:
            import json

            manifest = get("checksums.json", None)
            files = json.loads(manifest.read_text())
        paths = [get(n, s) for n, s in files.items()]
        return paths[0].parent
    folder = Path(location).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"no model at {folder}")
    manifest = files or (read_manifest(folder) if folder.is_dir() else None)
    for name, sha in (manifest or {}).items():
        verify(folder / name, sha)
    return folder


def load_model(name_or_path: str | os.PathLike, head: str | None = None, device: str | None = None,
               dtype: torch.dtype | str | None = None):
    """Load a model the hub serves (universal, fine-tuned or MTP student), checksums verified.

    ``head`` sets the default fidelity head of ``.calculator()``/``.predict()``.
    """
    s = str(name_or_path)
    entry: Entry | None = None
    if not (Path(s).expanduser().exists() or s.startswith(("hf://", "https://", "http://"))):
        entry = resolve(s)
    folder = materialise(entry.location if entry else s, entry.files if entry else None)
    if isinstance(dtype, str):
        dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    kind = model_kind(folder)
    if kind == "mtp":
        from unihub.zoo.students import load_student

        return load_student(folder)
    model = UniversalModel.load_dir(folder, dtype=dtype)
    if entry is not None:
        model.name = entry.name
    if head is not None or (entry and entry.default_head):
        h = head or entry.default_head
        model.fidelity_index(h)  # validates
        model.config.default_fidelity = h.lower()
    if device is not None:
        model = model.to(device)
    return model
