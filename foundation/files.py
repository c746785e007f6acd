"""Files that must not be lost or silently wrong: sha256, a folder's ``checksums.json``, atomic writes,
verified downloads, offline switch.

One place for these, used by the data directory, model weights and the zoo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from unihub.foundation.errors import InputError, MissingInputError, UnihubError

MANIFEST = "checksums.json"  # a model folder's sha256 of every file
_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20


class ChecksumError(UnihubError, ValueError):
    """A file's sha256 differs from the one recorded for it."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: str, delete_bad: bool = False) -> Path:
    """Return ``path`` if its sha256 is ``expected``; else raise (optionally deleting the bad copy)."""
    path = Path(path)
    got = sha256_file(path)
    if got != expected:
        if delete_bad:
            path.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {got}"
            + ("; the corrupt copy was removed, retry to download it again" if delete_bad else "")
        )
    return path


def write_manifest(directory: str | os.PathLike, names: list[str]) -> dict[str, str]:
    """Record the sha256 of ``names`` in ``directory/checksums.json``."""
    directory = Path(directory)
    sums = {n: sha256_file(directory / n) for n in sorted(names)}
    atomic_write(directory / MANIFEST, lambda p: Path(p).write_text(json.dumps(sums, indent=1) + "\n"))
    return sums


def read_manifest(directory: str | os.PathLike) -> dict[str, str] | None:
    """The ``checksums.json`` of a folder, or None if it has none."""
    p = Path(directory) / MANIFEST
    return json.loads(p.read_text()) if p.exists() else None


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would (umask applies)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def cache_dir() -> Path:
    """unihub's cache for derived artefacts (packs, compiled kernels, checksum records):
    ``$UNIHUB_CACHE``, else ``$XDG_CACHE_HOME/unihub`` or ``~/.cache/unihub``. Nothing is created."""
    env = os.environ.get("UNIHUB_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "unihub"


def offline() -> bool:
    """True when downloads are switched off (``UNIHUB_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``), read at call time."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("UNIHUB_OFFLINE", "HF_HUB_OFFLINE"))


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest`` through a temporary file; refuse it unless its sha256 matches."""
    dest = Path(dest)
    if offline():
        raise MissingInputError(f"{dest.name} is not cached at {dest} and downloads are off "
                                f"(UNIHUB_OFFLINE/HF_HUB_OFFLINE); unset them to fetch {url}")
    h = hashlib.sha256()

    def write(tmp: str) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            while block := resp.read(_CHUNK):
                h.update(block)
                out.write(block)
        if sha256 and h.hexdigest() != sha256:
            raise ChecksumError(f"{url}: downloaded sha256 {h.hexdigest()} does not match {sha256}; refusing it")

    atomic_write(dest, write)
    return dest


def check_output(path: str | os.PathLike, inputs: tuple = (), overwrite: bool = False) -> Path:
    """Refuse to write ``path`` over an input, or over an existing file unless ``overwrite``."""
    path = Path(path)
    for src in inputs:
        if Path(src).exists() and path.resolve() == Path(src).resolve():
            raise InputError(f"{path} is an input of this command; name another output file")
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it, or name another file")
    if path.is_dir():
        raise InputError(f"{path} is a folder; name a file in it")
    _check_writable(path.parent, f"{path}: the folder it goes in")
    return path


def check_output_dir(path: str | os.PathLike, option: str = "-o") -> Path:
    """Refuse an output folder that is a file, or lies under one, before any work is done."""
    path = Path(path)
    _check_writable(path, f"{option} {path}")
    return path


def _check_writable(folder: Path, what: str) -> None:
    """``folder``, or the nearest part of it that exists, must be a folder this process may write in:
    otherwise the write fails only after the work it was to record."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"{what}: {p} is a file, but the output is a folder; name a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise InputError(f"{what}: {p} is not writable; name a folder you can write in")
            return


def state_digest(module) -> str:
    """First 12 hex digits of the sha256 of a torch module's parameters and buffers (stable across saves:
    names in a registry can be re-pointed, weights cannot); a non-torch object hashes its ``repr``."""
    h = hashlib.sha256()
    if hasattr(module, "digest_items"):  # a model whose weights are not torch state (an MTP student)
        for name, value in module.digest_items().items():
            h.update(name.encode())
            # arrays by their bytes (C order), without importing numpy here: the peers' module imports this one
            h.update(value.tobytes() if hasattr(value, "tobytes") else repr(value).encode())
        return h.hexdigest()[:12]
    if not hasattr(module, "state_dict"):
        h.update(repr(module).encode())
        return h.hexdigest()[:12]
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]
