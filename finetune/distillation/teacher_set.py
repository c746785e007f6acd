"""A teacher-labelled training set: generated structures put at the teacher's volume, then labelled.

Unperturbed structures (``info["parent"] == info["id"]``) get the volume the first teacher likes
best, from a short E(V) scan; their perturbed copies (strained, sheared, rattled, with a vacancy)
get their parent's volume factor, so a strain stays a strain around the teacher's equilibrium.
Sharding by parent keeps a parent and its copies in one process.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from .teachers import FilterRule, Teacher, label_to_file

SCAN = (0.90, 0.95, 1.0, 1.05, 1.10, 1.15)  # linear factors: a radii-based first guess is rarely further off


def volume_factor(atoms: Atoms, teacher: Teacher, scan: Sequence[float] = SCAN) -> float:
    """The linear scale factor of the cell at the teacher's E(V) minimum (a parabola through the lowest
    three points of the scan; the scan is widened once when its minimum sits at an end)."""
    scan = sorted(scan)
    for _ in range(2):
        energies = [teacher.predict([_scaled(atoms, s)])[0].energy for s in scan]
        k = int(np.argmin(energies))
        if 0 < k < len(scan) - 1:
            a, b, _ = np.polyfit(scan[k - 1:k + 2], energies[k - 1:k + 2], 2)
            return float(np.clip(-b / (2 * a), scan[k - 1], scan[k + 1])) if a > 0 else float(scan[k])
        step = scan[1] - scan[0]
        scan = [scan[k] + step * (i - len(scan) // 2) for i in range(len(scan))]
        scan = [s for s in scan if s > 0.5]
    return float(scan[int(np.argmin(energies))])


def in_shard(parent: str, shard: int, shards: int) -> bool:
    """Whether the structures of ``parent`` belong to ``shard`` of ``shards`` (a stable hash of the id)."""
    return int(hashlib.sha256(parent.encode()).hexdigest()[:8], 16) % shards == shard


def at_teacher_volume(structures: Iterable[Atoms], teacher: Teacher, shard: int = 0, shards: int = 1,
                      skip: Callable[[str], bool] = lambda _id: False) -> Iterator[Atoms]:
    """This shard's structures, each scaled by its parent's volume factor (``info["volume_factor"]``).

    ``skip(id)`` tells which structures are already labelled: they are passed over without a scan
    unless a later copy needs their factor.
    """
    factors: dict[str, float] = {}
    parents: dict[str, Atoms] = {}
    for atoms in structures:
        sid, parent = str(atoms.info["id"]), str(atoms.info.get("parent", atoms.info["id"]))
        if not in_shard(parent, shard, shards):
            continue
        if parent == sid:
            parents[sid] = atoms  # a copy may still need its factor after the parent was labelled
        if skip(sid):
            continue
        if parent not in factors:
            if parent not in parents:
                raise ValueError(f"structure {sid} comes before its parent {parent}: the generator must yield "
                                 "a parent before its perturbed copies")
            factors[parent] = volume_factor(parents[parent], teacher)
        out = _scaled(atoms, factors[parent])
        out.info["volume_factor"] = round(factors[parent], 6)
        yield out


def label_generated(structures: Iterable[Atoms], teachers: Sequence[Teacher], out: str | os.PathLike,
                    shard: int = 0, shards: int = 1, batch_size: int = 16, log=None,
                    rule: FilterRule | None = None) -> dict:
    """Label this shard's structures at the first teacher's volume into ``out`` (resumable: see
    :func:`label_to_file`); returns its summary."""
    from .teachers import state_path

    out = Path(out)
    done: set[str] = set()
    state = state_path(out)
    if state.exists():
        import json

        s = json.loads(state.read_text())
        done = set(s.get("done", [])) | set(s.get("dropped", []))
    stream = at_teacher_volume(structures, teachers[0], shard, shards, skip=lambda sid: sid in done)
    return label_to_file(stream, teachers, out, batch_size=batch_size, log=log, rule=rule)


def _scaled(atoms: Atoms, factor: float) -> Atoms:
    out = atoms.copy()
    out.set_cell(atoms.cell.array * factor, scale_atoms=True)
    out.calc = None
    return out
