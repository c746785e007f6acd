"""Git object hashes for folders shipped as tar.gz, and rebuilding such a tar.gz from a GitHub tarball.

Folders (FitSNAP ``JSON/``, ACWF ``xsfs-*``) are shipped as one ``.tar.gz`` each. A repack has no
canonical bytes, so the card pins the folder's git tree id instead: whatever tarball we build is
accepted when the tree computed from its members equals the tree GitHub serves at that commit.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_TREE_MODE = "40000"


def git_blob_id(data: bytes) -> bytes:
    """Binary SHA-1 of a git blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).digest()


def git_tree_id(entries: Iterable[tuple[str, str, bytes]]) -> str:
    """Hex id of the git tree holding ``(relative path, mode, blob id)`` entries (subfolders implied)."""
    root: dict = {}
    for rel, mode, blob in entries:
        *dirs, leaf = rel.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = (mode, blob)
    return _tree(root).hex()


def _tree(node: dict) -> bytes:
    items = {name: (_TREE_MODE, _tree(v)) if isinstance(v, dict) else v for name, v in node.items()}
    # git orders tree entries by name with a trailing '/' on subtrees
    order = sorted(items, key=lambda n: n + "/" if items[n][0] == _TREE_MODE else n)
    body = b"".join(f"{items[n][0]} {n}".encode() + b"\0" + items[n][1] for n in order)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).digest()


def _member_entry(tf: tarfile.TarFile, m: tarfile.TarInfo) -> tuple[str, bytes] | None:
    """(git mode, content) of a tar member, or None for members git does not store as blobs."""
    if m.issym():
        return "120000", m.linkname.encode()
    if not m.isfile():
        return None
    data = tf.extractfile(m).read()
    return ("100755" if m.mode & 0o111 else "100644"), data


def tarball_tree_id(path: Path, prefix: str) -> str:
    """Git tree id of the members of a tar(.gz) under ``prefix`` (e.g. ``'JSON/'``)."""
    prefix = prefix.rstrip("/") + "/"
    entries = []
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.name.startswith(prefix):
                continue
            got = _member_entry(tf, m)
            if got is not None:
                entries.append((m.name[len(prefix):], got[0], git_blob_id(got[1])))
    if not entries:
        raise ValueError(f"{path} holds no members under {prefix!r}")
    return git_tree_id(entries)


def repack_folder(stream: BinaryIO, folder: str, dest: BinaryIO) -> str:
    """Copy ``folder`` out of a GitHub repository tarball stream into a new tar.gz written to ``dest``.

    Members are renamed ``<basename(folder)>/<rest>``, the layout the cards describe. Returns the git
    tree id of what was copied, for the caller to compare with the card.
    """
    folder = folder.strip("/")
    prefix = Path(folder).name + "/"
    entries = []
    with tarfile.open(fileobj=stream, mode="r|gz") as src, tarfile.open(fileobj=dest, mode="w:gz") as out:
        for m in src:
            # GitHub tarballs put everything under one '<repo>-<commit>/' folder
            _, _, inner = m.name.partition("/")
            if not inner.startswith(folder + "/"):
                continue
            got = _member_entry(src, m)
            if got is None:
                continue
            mode, data = got
            rel = inner[len(folder) + 1:]
            entries.append((rel, mode, git_blob_id(data)))
            info = tarfile.TarInfo(prefix + rel)
            if mode == "120000":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                out.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755 if mode == "100755" else 0o644
                out.addfile(info, io.BytesIO(data))
    if not entries:
        raise ValueError(f"the tarball holds no folder {folder!r}")
    return git_tree_id(entries)
