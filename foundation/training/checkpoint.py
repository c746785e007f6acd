"""Checkpoints that are never half-written: save to a temporary file, then rename."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """A kill during ``save`` leaves the previous checkpoint intact."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            torch.save(checkpoint, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _sweep_stale(path)


def _sweep_stale(path: Path) -> None:
    """Remove checkpoint temporaries in ``path``'s folder whose writer was killed (its pid no longer runs)."""
    for tmp in path.parent.glob(".*.tmp*"):
        pid = tmp.name.rsplit(".tmp", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
