"""``load_model(name_or_path)``: registry names, local folders/files, ``hf://`` and ``https://``."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch

from unihub.foundation.errors import InputError, InputTypeError, MissingInputError
from unihub.foundation.files import ChecksumError, cache_dir, download, read_manifest, verify
from unihub.foundation.loading import read_model
from unihub.zoo import hub
from unihub.zoo.models import UniversalModel, model_kind
from unihub.zoo.registry import Entry, UnknownModelError, resolve

PACKAGE_DIR = Path(__file__).parent


def models_cache() -> Path:
    return cache_dir() / "models"


def _fetch_url(base: str, name: str, expected: str | None) -> Path:
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
            manifest = get("checksums.json", None)
            files = json.loads(manifest.read_text())
        paths = [get(n, s) for n, s in files.items()]
        return paths[0].parent
    folder = Path(location).expanduser()
    if not folder.exists():
        raise MissingInputError(f"no model at {folder}: give a registry name (see 'unihub list'), a model folder, "
                                "a .mtp file, hf://owner/repo or an https:// URL")
    manifest = files or (read_manifest(folder) if folder.is_dir() else None)
    for name, sha in (manifest or {}).items():
        verify(folder / name, sha)
    return folder


DTYPES = {"float32": torch.float32, "float": torch.float32, "single": torch.float32,
          "float64": torch.float64, "double": torch.float64}


def is_path(name: str) -> bool:
    """A path is explicit: it contains a separator or starts with '.' or '~' (else it names a registry entry)."""
    return os.sep in name or "/" in name or name.startswith((".", "~"))


def load_model(name_or_path: str | os.PathLike, head: str | int | None = None, device: str | None = None,
               dtype: torch.dtype | str | None = None, elements: list[str] | None = None):
    """Load a model the hub serves (universal, fine-tuned or MTP student), checksums verified.

    A registry name or alias wins over a local file of the same name unless the argument is a path
    (``./x``, ``dir/x``, ``~/x``, a ``Path``) or a ``hf://``/``https://`` location. A local folder
    without ``checksums.json`` loads with a warning and ``model.verified`` False. ``head`` (name or
    index) sets the default fidelity head of ``.calculator()``/``.predict()``; ``elements`` names the
    species of a standard MLIP-2 ``.mtp`` file, which does not store them.
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
        explicit = True
    else:
        explicit = False
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise InputError("load_model needs a model name (see unihub.list_models()) or a path such as './my-model'; "
                         f"got {name_or_path!r}")
    s = name_or_path
    if isinstance(dtype, str):
        if dtype.lower() not in DTYPES:
            raise InputError(f"dtype {dtype!r} is not supported; use one of {sorted(DTYPES)}, torch.float32 or "
                             "torch.float64 (forces by autograd need single or double precision)")
        dtype = DTYPES[dtype.lower()]
    elif dtype is not None and dtype not in (torch.float32, torch.float64):
        raise InputError(f"dtype {dtype} is not supported; use torch.float32 or torch.float64")
    if head is not None and (isinstance(head, bool) or not isinstance(head, (str, int))):
        raise InputTypeError(f"head must be a head name such as 'pbe' or an index, got {head!r}")
    entry: Entry | None = None
    remote = s.startswith(("hf://", "https://", "http://"))
    if not (explicit or remote or is_path(s)):
        try:
            entry = resolve(s)
        except UnknownModelError:
            if not Path(s).exists():  # a bare local name that no registry entry shadows loads as a path
                raise
    folder = materialise(entry.location if entry else s, entry.files if entry else None)
    verified = entry is not None or remote or (folder.is_dir() and read_manifest(folder) is not None)
    if not verified and folder.is_dir():  # a bare .mtp file has no checksum to carry: verified stays False

        warnings.warn(f"{s}: no checksums.json, so its files are not verified (model.verified is False); "
                      "save it with model.save() to write one", stacklevel=2)
    kind = model_kind(folder)
    if kind == "mtp":
        model = read_model("mtp", folder, elements=elements)  # finetune's reader, installed by unihub
    else:
        if elements is not None:
            raise InputError("elements=... is only for MTP students (.mtp); a universal model knows its elements")
        model = UniversalModel.load_dir(folder, dtype=dtype)
        if head is not None or (entry and entry.default_head):
            h = head if head is not None else entry.default_head
            model.config.default_fidelity = model.config.fidelities[model.fidelity_index(h)]
    if entry is not None:
        model.name = entry.name
    elif not verified:
        model.name = f"{s} (unverified)"
    model.verified = verified
    model.source = folder  # where the files were read (checksums.json there pins them)
    if device is not None:
        model = model.to(device)
    return model
