"""The output folder of a fine-tune run: which run it holds (a manifest of sha256s and settings), and
whether a new call resumes it, starts afresh or is refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from unihub.foundation.errors import InputError
from unihub.foundation.files import atomic_write, state_digest

MANIFEST = "finetune-manifest.json"


class RunMismatchError(InputError):
    """The output folder holds another run (other data, base model or settings), or none to resume."""


def _plain(value):
    """A JSON-stable form of a setting: paths by name (their bytes are hashed separately), objects by type."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set)):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return str(value)
    return f"<{type(value).__name__}>"


def manifest(data_sha: str, origin: str, base, test_sha: dict | None, settings: dict) -> dict:
    """What identifies a fine-tune run: the data's and base model's digests and the settings."""
    return {"data": {"origin": origin, "sha256": data_sha},
            "base": {"name": getattr(base, "name", "") or "", "state_digest": state_digest(base)},
            "test": test_sha, "settings": _plain(settings)}


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    if old.get("data", {}).get("sha256") != new["data"]["sha256"]:
        out.append(f"data ({old.get('data', {}).get('origin')}, sha256 {str(old.get('data', {}).get('sha256'))[:12]}"
                   f" there; {new['data']['origin']}, sha256 {new['data']['sha256'][:12]} now)")
    if old.get("base", {}).get("state_digest") != new["base"]["state_digest"]:
        out.append(f"base model ({old.get('base', {}).get('name')} {old.get('base', {}).get('state_digest')} there; "
                   f"{new['base']['name']} {new['base']['state_digest']} now)")
    if old.get("test") != new["test"]:
        out.append("test frames")
    old_s, new_s = old.get("settings", {}), new["settings"]
    changed = sorted(k for k in set(old_s) | set(new_s) if old_s.get(k) != new_s.get(k))
    if changed:
        out.append("settings " + ", ".join(f"{k}: {old_s.get(k)!r} → {new_s.get(k)!r}" for k in changed))
    return out


def prepare(output: str | os.PathLike, new: dict, resume: bool | None = None, overwrite: bool = False) -> bool:
    """Claim ``output`` for the run ``new`` describes; True if an earlier run of it is to be resumed.

    Default: an empty or absent folder starts afresh; the same run (data, base model and settings all
    equal by sha256 and value) resumes; anything else is refused. ``resume=True`` refuses when there is
    no earlier run of the same kind to resume. ``overwrite=True`` discards the folder's run and starts afresh.
    """
    out = Path(output)
    record = out / "run" / MANIFEST
    if resume and overwrite:
        raise RunMismatchError("--resume and --overwrite contradict each other: pass one of them")
    if out.exists() and not out.is_dir():
        raise RunMismatchError(f"{out} is a file, not a folder; name a folder for the fine-tuned model")
    used = out.is_dir() and any(out.iterdir())
    if overwrite or not used:
        if resume:
            raise RunMismatchError(f"--resume: {out} holds no fine-tune run to resume; run without --resume "
                                   "to start one")
        if overwrite and (out / "run").exists():
            shutil.rmtree(out / "run")
        _write(record, new)
        return False
    if not record.exists():
        raise RunMismatchError(f"{out} is not empty but holds no record of a fine-tune run ({MANIFEST}), so it "
                               "cannot be resumed safely: pass --overwrite to start afresh in it, replacing its "
                               "run, or name another -o folder")
    old = json.loads(record.read_text())
    diffs = _differences(old, new)
    if diffs:
        raise RunMismatchError(f"{out} holds a fine-tune run of other inputs, so it is not resumed: "
                               + "; ".join(diffs) + ". Pass --overwrite to start afresh, replacing that run, "
                               "or name another -o folder (--resume only continues the same run)")
    return True


def _write(path: Path, record: dict) -> None:
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(record, indent=1, sort_keys=True)))
