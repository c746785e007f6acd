"""Where dataset files live, and getting them there: checksum-verified, downloaded atomically when missing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from unihub.foundation.errors import UnihubError
from unihub.foundation.files import ChecksumError, cache_dir, offline, sha256_file  # noqa: F401  (re-exported)

from .archive import repack_folder, tarball_tree_id
from .cards import Card, CardFile

_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20


class MissingDataError(UnihubError, FileNotFoundError):
    """A dataset file is absent and cannot be downloaded (offline, or the download failed)."""




def data_root(override: str | os.PathLike | None = None) -> Path:
    """The data folder: ``override``, else ``$UNIHUB_DATA``, else ``<cache_dir>/data``. Nothing is created."""
    chosen = override or os.environ.get("UNIHUB_DATA")
    return Path(chosen).expanduser().resolve() if chosen else cache_dir() / "data"






def resolve_file(card: Card, file: CardFile | str, data_dir: str | os.PathLike | None = None,
                 progress: bool = True) -> Path:
    """Local path of one card file, verified against the card; downloaded first if missing and online."""
    if isinstance(file, str):
        file = card.file(file)
    root = data_root(data_dir)
    path = root / card.folder / file.path
    # files a generator made here (teacher labels) live in the cache even when UNIHUB_DATA names shared data
    made_here = cache_dir() / "data" / card.folder / file.path
    for found in (path, made_here):
        if found.exists():
            verify_file(found, file, card.name)
            return found
    where = f"{card.folder}/{file.path}"
    if file.url is None:
        raise MissingDataError(f"dataset {card.name!r}: file {where} is not in {root}; it is converted from "
                               f"{file.derived_from['method']} (see {card.path}), so no URL serves it: set "
                               f"UNIHUB_DATA to a folder containing it (CI uses ../shared/data), or make it "
                               f"again into {made_here.parent} with the command its card names")
    hint = (f"set UNIHUB_DATA to a folder containing {where} (CI uses ../shared/data), "
            f"or go online to fetch it from {file.url}")
    if offline():
        raise MissingDataError(f"dataset {card.name!r}: file {where} is not in {root} and downloads are off "
                               f"(UNIHUB_OFFLINE/HF_HUB_OFFLINE); {hint}")
    try:
        _download(file, path, progress)
    except (urllib.error.URLError, OSError, tarfile.TarError) as err:
        raise MissingDataError(f"dataset {card.name!r}: file {where} is not in {root} and downloading it "
                               f"failed ({err}); {hint}") from err
    return path


def verify_file(path: Path, file: CardFile, dataset: str = "") -> None:
    """Refuse ``path`` unless it is the card's file (sha256, or git tree for folder repacks)."""
    st = path.stat()
    if _cached_ok(path, st, file):
        return
    digest = sha256_file(path)
    if digest == file.sha256:
        _remember(path, st, {"sha256": digest})
        return
    if file.git_tree and _tree_or_none(path, Path(file.archive_of).name) == file.git_tree:
        _remember(path, st, {"git_tree": file.git_tree})
        return
    pinned = f"{file.sha256} ({file.bytes} bytes)" + (f" or git tree {file.git_tree}" if file.git_tree else "")
    raise ChecksumError(
        f"dataset {dataset!r}: {path} has sha256 {digest} ({st.st_size} bytes) but the card pins {pinned}. "
        f"It is damaged or another version: delete it to download it again, or point UNIHUB_DATA at a "
        f"verified copy.")


def _tree_or_none(path: Path, prefix: str) -> str | None:
    try:
        return tarball_tree_id(path, prefix)
    except (tarfile.TarError, OSError, ValueError):
        return None


def _download(file: CardFile, path: Path, progress: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(file.url, timeout=60) as resp:
            stream = _Progress(resp, path.name, progress)
            if file.archive_of:
                tree = repack_folder(stream, file.archive_of, out)
                if tree != file.git_tree:
                    raise ChecksumError(f"{file.url}: folder {file.archive_of} has git tree {tree}, "
                                        f"the card pins {file.git_tree}")
                proof = {"git_tree": tree}
            else:
                h = hashlib.sha256()
                while chunk := stream.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                if h.hexdigest() != file.sha256:
                    raise ChecksumError(f"{file.url}: downloaded sha256 {h.hexdigest()} does not match the "
                                        f"card's {file.sha256}; refusing it")
                proof = {"sha256": file.sha256}
            stream.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _remember(path, path.stat(), proof)


class _Progress:
    """File-like wrapper that advances a tqdm bar as bytes are read."""

    def __init__(self, raw, name: str, enabled: bool):
        total = getattr(raw, "length", None) or None
        self._raw = raw
        self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}", disable=not enabled)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._bar.update(len(data))
        return data

    def close(self) -> None:
        self._bar.close()


# Verified-file ledger: hashing 50 MB on every load is wasteful, so remember (path, size, mtime) -> proof.
def _ledger_path() -> Path:
    return cache_dir() / "verified-files.json"


def _read_ledger() -> dict:
    try:
        return json.loads(_ledger_path().read_text())
    except (OSError, ValueError):
        return {}


def _cached_ok(path: Path, st: os.stat_result, file: CardFile) -> bool:
    entry = _read_ledger().get(str(path.resolve()))
    if not entry or entry.get("size") != st.st_size or entry.get("mtime_ns") != st.st_mtime_ns:
        return False
    return entry.get("sha256") == file.sha256 or (file.git_tree is not None and entry.get("git_tree") == file.git_tree)


def _remember(path: Path, st: os.stat_result, proof: dict) -> None:
    ledger = _read_ledger()
    ledger[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, **proof}
    target = _ledger_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".verified-", suffix=".json")
    except OSError:
        return  # a read-only cache only costs re-hashing next time
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(ledger, f, indent=0, sort_keys=True)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
