"""Pack a mix of datasets into memory-mappable ``.npy`` arrays + ``meta.json``, and read it back.

Layout (F frames, N atoms): per atom ``numbers`` u1, ``positions``/``forces`` f4 (N, 3); per frame
``atom_offset`` i8 (F+1), ``cell`` f4 (F, 3, 3), ``pbc`` bool (F, 3), ``energy`` f8, ``stress``
f4 (F, 3, 3), ``has_energy``/``has_forces``/``has_stress`` bool, ``fidelity`` i1 and ``dataset``
i2 (indices into ``meta``), ``split`` i1 (0 train, 1 val, 2 test), ``group`` i4 (into ``groups.json``).
Missing labels are stored as zeros with ``has_*`` False. Energies stay float64: totals of a few
thousand eV need more than float32's 7 digits to resolve meV.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from tqdm.auto import tqdm

from unihub.foundation.errors import InputError, MissingInputError

from .cards import FIDELITIES, load_card
from .datasets import iter_dataset
from .frame import Frame
from .splits import SPLITS, assign_split

PACK_VERSION = 1
ATOM_ARRAYS = {"numbers": np.uint8, "positions": np.float32, "forces": np.float32}
FRAME_ARRAYS = {"atom_offset": np.int64, "cell": np.float32, "pbc": np.bool_, "energy": np.float64,
                "stress": np.float32, "has_energy": np.bool_, "has_forces": np.bool_, "has_stress": np.bool_,
                "fidelity": np.int8, "dataset": np.int16, "split": np.int8, "group": np.int32}
_RANK = {"train": 0, "val": 1, "test": 2}


def pack_mix(names: Sequence[str], out: str | os.PathLike, data_dir: str | os.PathLike | None = None,
             progress: bool = True, force: bool = False) -> Path:
    """Pack the datasets ``names`` into the folder ``out`` (written atomically); returns ``out``.

    Frames with neither energy nor forces are skipped. A calculation stored twice within a dataset
    (same fidelity, atoms, cell and energy) is kept once, in the most held-out split, so nothing
    leaks from test into train; the same structure with a different energy (e.g. another spin
    state) is kept. An existing pack of the same datasets and card versions is reused unless ``force``.
    """
    out = Path(out)
    cards = [load_card(n) for n in dict.fromkeys(names)]
    wanted = [{"name": c.name, "card_sha256": c.sha256} for c in cards]
    if not force and _is_current(out, wanted):
        if progress:
            print(f"{out} is up to date ({_size(out) / 1e6:.1f} MB)")
        return out

    kept: list[tuple[Frame, str]] = []
    ds_meta = []
    for card in cards:
        frames, dropped = [], Counter()
        bar = tqdm(iter_dataset(card, data_dir, progress), desc=f"read {card.name}", unit=" frames",
                   mininterval=1.0, disable=not progress)
        for frame in bar:
            if frame.energy is None and frame.forces is None:
                dropped["unlabelled"] += 1
                continue
            frames.append((frame, assign_split(card.name, frame.group, frame.split, card.splits)))
        keep = dedupe(frames)
        dropped["duplicates"] = len(frames) - len(keep)
        kept.extend(frames[i] for i in keep)
        ds_meta.append({"name": card.name, "card_sha256": card.sha256, "fidelity": card.fidelity,
                        "energy_reference": card.energy_reference,
                        "files": {f.path: f.sha256 for f in card.files}, "dropped": dict(dropped)})

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        meta = _write(tmp, kept, ds_meta, progress)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        c = meta["counts"]
        print(f"packed {meta['n_frames']} frames / {meta['n_atoms']} atoms "
              f"(train {c['frames']['train']}, val {c['frames']['val']}, test {c['frames']['test']}) "
              f"into {out}: {_size(out) / 1e6:.1f} MB")
    return out


def dedupe(frames: Sequence[tuple[Frame, str]]) -> list[int]:
    """Indices to keep: one per ``fingerprint``, preferring test over val over train."""
    best: dict[bytes, int] = {}
    for i, (frame, split) in enumerate(frames):
        key = fingerprint(frame)
        j = best.get(key)
        if j is None or _RANK[split] > _RANK[frames[j][1]]:
            best[key] = i
    return sorted(best.values())


def fingerprint(frame: Frame) -> bytes:
    """Identity of a labelled calculation: fidelity, energy (to 1e-4 eV) and the structure up to atom
    order and periodic wrapping (fractional coordinates to 1e-4)."""
    cell = np.round(frame.cell, 4) + 0.0
    if frame.pbc.all() and abs(np.linalg.det(frame.cell)) > 1e-8:
        frac = np.linalg.solve(frame.cell.T, frame.positions.T).T
        coords = np.round(frac % 1.0, 4) % 1.0 + 0.0
    else:
        coords = np.round(frame.positions, 4) + 0.0
    rows = np.column_stack([frame.numbers, coords])
    rows = rows[np.lexsort(rows.T[::-1])]
    energy = b"-" if frame.energy is None else np.float64(round(frame.energy, 4) + 0.0).tobytes()
    return hashlib.sha1(frame.fidelity.encode() + energy + cell.tobytes() + rows.tobytes()).digest()


def _write(folder: Path, kept: list[tuple[Frame, str]], ds_meta: list[dict], progress: bool) -> dict:
    names = [d["name"] for d in ds_meta]
    fids = [f for f in FIDELITIES if any(fr.fidelity == f for fr, _ in kept)]
    n_frames = len(kept)
    counts = np.array([len(fr) for fr, _ in kept], dtype=np.int64)
    offset = np.zeros(n_frames + 1, dtype=np.int64)
    np.cumsum(counts, out=offset[1:])
    n_atoms = int(offset[-1])
    a = {k: np.zeros((n_atoms, 3) if k != "numbers" else n_atoms, dtype=t) for k, t in ATOM_ARRAYS.items()}
    shapes = {"cell": (n_frames, 3, 3), "pbc": (n_frames, 3), "stress": (n_frames, 3, 3)}
    f = {k: np.zeros(shapes.get(k, n_frames), dtype=t) for k, t in FRAME_ARRAYS.items() if k != "atom_offset"}
    f["atom_offset"] = offset
    groups: dict[tuple[int, str], int] = {}
    for i, (fr, split) in enumerate(tqdm(kept, desc="pack", unit=" frames", mininterval=1.0,
                                      disable=not progress)):
        s, e = offset[i], offset[i + 1]
        a["numbers"][s:e] = fr.numbers
        a["positions"][s:e] = fr.positions
        if fr.forces is not None:
            a["forces"][s:e] = fr.forces
        ds = names.index(fr.dataset)
        f["cell"][i], f["pbc"][i] = fr.cell, fr.pbc
        f["energy"][i] = fr.energy if fr.energy is not None else 0.0
        if fr.stress is not None:
            f["stress"][i] = fr.stress
        f["has_energy"][i], f["has_forces"][i] = fr.energy is not None, fr.forces is not None
        f["has_stress"][i] = fr.stress is not None
        f["fidelity"][i], f["dataset"][i], f["split"][i] = fids.index(fr.fidelity), ds, SPLITS.index(split)
        f["group"][i] = groups.setdefault((ds, fr.group), len(groups))
    for k, v in {**a, **f}.items():
        np.save(folder / f"{k}.npy", v)
    (folder / "groups.json").write_text(json.dumps([[names[d], g] for d, g in groups]))
    meta = {"format": "unihub-packed-mix", "version": PACK_VERSION, "datasets": ds_meta,
            "fidelities": fids, "splits": list(SPLITS), "n_frames": n_frames, "n_atoms": n_atoms,
            "counts": _counts(f, a, offset, names)}
    for d, name in zip(ds_meta, names, strict=True):
        sel = f["dataset"] == names.index(name)
        d.update(frames=int(sel.sum()), atoms=int(counts[sel].sum()))
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def _counts(f: dict, a: dict, offset: np.ndarray, names: list[str]) -> dict:
    natoms = np.diff(offset)
    per_split = {s: f["split"] == k for k, s in enumerate(SPLITS)}
    elements = np.bincount(a["numbers"], minlength=119)
    return {
        "frames": {s: int(m.sum()) for s, m in per_split.items()},
        "atoms": {s: int(natoms[m].sum()) for s, m in per_split.items()},
        "by_dataset": {n: {s: int((m & (f["dataset"] == d)).sum()) for s, m in per_split.items()}
                       for d, n in enumerate(names)},
        "by_element": {chemical_symbols[z]: int(c) for z, c in enumerate(elements) if c},
        "labels": {k: int(f[f"has_{k}"].sum()) for k in ("energy", "forces", "stress")},
    }


def _is_current(out: Path, wanted: list[dict]) -> bool:
    try:
        meta = json.loads((out / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    have = [{"name": d["name"], "card_sha256": d["card_sha256"]} for d in meta.get("datasets", [])]
    return meta.get("version") == PACK_VERSION and have == wanted


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` so that readers see either the old or the new pack, never a mix."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


class PackedMix:
    """Read-only view of a packed mix; arrays are memory-mapped, so opening is instant and cheap."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise MissingInputError(f"{self.path} is not a packed mix (no meta.json); build one with pack_mix()")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("version") != PACK_VERSION:
            raise InputError(f"{self.path}: pack version {self.meta.get('version')} != {PACK_VERSION}; re-pack it")
        self._a = {k: np.load(self.path / f"{k}.npy", mmap_mode="r") for k in (*ATOM_ARRAYS, *FRAME_ARRAYS)}
        self.groups = [tuple(g) for g in json.loads((self.path / "groups.json").read_text())]

    def __len__(self) -> int:
        return int(self.meta["n_frames"])

    @property
    def fidelities(self) -> list[str]:
        """Fidelity names, indexed by the ``fidelity`` column (same interface as a ``FrameSource``)."""
        return list(self.meta["fidelities"])

    @property
    def datasets(self) -> list[str]:
        """Dataset names, indexed by the ``dataset`` column."""
        return [d["name"] for d in self.meta["datasets"]]

    def array(self, name: str) -> np.ndarray:
        """One memory-mapped array by name (e.g. ``'energy'``), for vectorised statistics."""
        return self._a[name]

    def indices(self, split: str) -> np.ndarray:
        """Frame indices of ``split`` ('train', 'val' or 'test')."""
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {split!r}")
        return np.flatnonzero(self._a["split"] == SPLITS.index(split))

    def get(self, i: int) -> dict[str, np.ndarray]:
        """Frame ``i`` as a dict of (copied) numpy arrays."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for {n} frames")
        i %= n
        s, e = self._a["atom_offset"][i], self._a["atom_offset"][i + 1]
        out = {k: np.array(self._a[k][s:e]) for k in ATOM_ARRAYS}
        out.update({k: np.array(self._a[k][i]) for k in FRAME_ARRAYS if k not in ("atom_offset", "group")})
        return out

    def frame(self, i: int) -> Frame:
        """Frame ``i`` as a ``Frame`` (labels the pack lacks come back as ``None``)."""
        d = self.get(i)
        ds, group = self.groups[int(self._a["group"][i % len(self)])]
        return Frame(
            d["numbers"], d["positions"], d["cell"], d["pbc"],
            energy=float(d["energy"]) if d["has_energy"] else None,
            forces=d["forces"] if d["has_forces"] else None,
            stress=d["stress"] if d["has_stress"] else None,
            fidelity=self.meta["fidelities"][int(d["fidelity"])], dataset=ds, group=group,
            split=SPLITS[int(d["split"])],
        )

