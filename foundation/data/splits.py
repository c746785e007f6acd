"""Deterministic train/val/test assignment by group: frames of one trajectory or structure never straddle splits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from unihub.foundation.errors import InputError

from .frame import Frame

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = {"train": 0.90, "val": 0.05, "test": 0.05}
DEFAULT_VAL_FRACTION = 0.05


def group_unit(dataset: str, group: str) -> float:
    """A number in [0, 1) fixed by (dataset, group): SHA-256, so it is stable across runs and machines."""
    digest = hashlib.sha256(f"{dataset}\0{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(dataset: str, group: str, source_split: str | None = None,
                 spec: Mapping | None = None) -> str:
    """'train', 'val' or 'test' for one group.

    ``spec`` is a card's ``splits``: ``{method: by_group, fractions: {...}}`` cuts [0, 1) into
    train/val/test; ``{method: source, val_fraction: f}`` keeps the source's test set and moves a
    fraction f of the source's training groups to val; ``{method: bench}`` makes everything test;
    ``{method: listed, val: [...], test: [...]}`` names the val and test groups, the rest is train.
    Otherwise a frame that carries its own source split is treated the ``source`` way.
    """
    spec = spec or {}
    if spec.get("method") == "bench":
        return "test"
    if spec.get("method") == "listed":
        return "test" if group in spec["test"] else "val" if group in spec["val"] else "train"
    u = group_unit(dataset, group)
    if source_split is not None or spec.get("method") == "source":
        if source_split in ("test", "val"):
            return source_split
        return "val" if u < spec.get("val_fraction", DEFAULT_VAL_FRACTION) else "train"
    fractions = {**DEFAULT_FRACTIONS, **spec.get("fractions", {})}
    if abs(sum(fractions[s] for s in SPLITS) - 1) > 1e-9:
        raise InputError(f"split fractions must sum to 1, got {fractions}")
    if u < fractions["train"]:
        return "train"
    return "val" if u < fractions["train"] + fractions["val"] else "test"


def assign_splits(frames: Sequence[Frame], spec: Mapping | None = None) -> list[str]:
    """The split of every frame (see ``assign_split``)."""
    return [assign_split(f.dataset, f.group, f.split, spec) for f in frames]


def hold_out_groups(frames: Sequence[Frame], fraction: float, seed: int = 0) -> tuple[list[Frame], list[Frame]]:
    """(kept, held out): whole groups, in an order fixed by ``seed`` and each group's name, are held out until
    they hold at least ``fraction`` of the frames (at least one group, never all of them)."""
    if not 0 < fraction < 1:
        raise InputError(f"the held-out fraction must lie between 0 and 1, got {fraction!r}")
    groups = sorted({(f.dataset, f.group) for f in frames}, key=lambda g: group_unit(f"{seed}\0{g[0]}", g[1]))
    if len(groups) < 2:
        raise InputError(f"cannot hold out a fraction of {len(frames)} frames of one group without splitting it: "
                         "give the frames distinct groups (info['group'], e.g. one per relaxation run)")
    sizes = {g: 0 for g in groups}
    for f in frames:
        sizes[(f.dataset, f.group)] += 1
    held, count = set(), 0
    for g in groups[:-1]:
        if count >= fraction * len(frames):
            break
        held.add(g)
        count += sizes[g]
    out = [f for f in frames if (f.dataset, f.group) in held]
    return [f for f in frames if (f.dataset, f.group) not in held], out
