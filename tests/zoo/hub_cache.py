"""Build a Hugging Face Hub cache folder in the real huggingface_hub layout, for offline tests."""

import os
import shutil
from pathlib import Path


def make_hf_cache(cache: Path, repo_id: str, folder: Path, commit: str = "a" * 40, revision: str = "main") -> None:
    """Lay ``folder`` out exactly as huggingface_hub's cache does (blobs, refs, snapshot symlinks)."""
    from unihub.foundation.files import sha256_file

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        blob = repo / "blobs" / sha256_file(f)
        shutil.copy(f, blob)
        link = snap / f.name
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, snap), link)
