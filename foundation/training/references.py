"""Reference energies: per-head, per-element baselines, and per-dataset alignment onto them.

Datasets that share a functional still differ in their energy zero (code, pseudopotentials,
cohesive vs total energies): one PBE dataset's Mo can sit eV/atom away from another's. Pooling
them naively makes the head fit contradictory targets. So each (dataset, fidelity) pair gets
its own least-squares per-element offsets, and its energy labels are shifted onto its head's
reference before training; only energy differences within a dataset are learned from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EnergyReferences:
    head: np.ndarray  # (n_heads, max_z+1): the model's reference energies
    shift: np.ndarray  # (n_datasets * n_source_fidelities, max_z+1): label shift per (dataset, fidelity), eV/atom
    seen: np.ndarray  # (n_heads, max_z+1) bool: elements present in any training frame of a head
    force_rms: float

    def label_shift(self, key: int, numbers: np.ndarray) -> float:
        """What to subtract from a frame's energy label to put it on its head's scale."""
        return float(np.bincount(numbers, minlength=self.shift.shape[1]) @ self.shift[key])


def _lsq(counts: np.ndarray, energies: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    cols = np.where(counts.sum(axis=0) > 0)[0]
    a = counts[:, cols].astype(float)
    # a small ridge keeps collinear element counts (fixed stoichiometry) well-posed
    sol = np.linalg.solve(a.T @ a + ridge * len(energies) * np.eye(len(cols)), a.T @ energies)
    return cols, sol


def fit_references(source, indices: np.ndarray, fidelity_map: np.ndarray, n_heads: int,
                   align: bool = True, anchors: dict[int, int] | None = None, max_z: int = 118,
                   ridge: float = 1e-6, unaligned: set[int] | None = None) -> EnergyReferences:
    """Fit per-(dataset, fidelity) offsets and per-head references on the frames ``indices``.

    ``anchors`` maps a head index to a dataset index whose offsets define that head's zero for the
    elements it has; other elements take the atom-weighted mean over the head's datasets. Datasets in
    ``unaligned`` are taken as already on their head's zero: never shifted, and they set no reference
    except for elements no other dataset of the head has. With
    ``align=False`` every head is one least-squares fit over its pooled frames and nothing is shifted.
    """
    n_src = len(source.fidelities)
    n_keys = len(source.datasets) * n_src
    rows: dict[int, list] = {}
    seen = np.zeros((n_heads, max_z + 1), dtype=bool)
    sq, nf = 0.0, 0
    for i in indices:
        d = source.get(int(i))
        key = int(d["dataset"]) * n_src + int(d["fidelity"])
        c = np.bincount(np.asarray(d["numbers"]), minlength=max_z + 1)
        seen[int(fidelity_map[int(d["fidelity"])])] |= c > 0
        if d["has_energy"]:
            rows.setdefault(key, []).append((c, float(d["energy"])))
        if d["has_forces"]:
            f = np.asarray(d["forces"], dtype=float)
            sq += float((f**2).sum())
            nf += f.size
    head_of = {k: int(fidelity_map[k % n_src]) for k in rows}
    offsets = np.zeros((n_keys, max_z + 1))
    atoms = np.zeros((n_keys, max_z + 1))
    refs = np.zeros((n_heads, max_z + 1))
    shift = np.zeros((n_keys, max_z + 1))
    if not align:
        for h in range(n_heads):
            pooled = [r for k, rs in rows.items() if head_of[k] == h for r in rs]
            if pooled:
                cols, sol = _lsq(np.array([c for c, _ in pooled]), np.array([e for _, e in pooled]), ridge)
                refs[h, cols] = sol
        return EnergyReferences(refs, shift, seen, float(np.sqrt(sq / nf)) if nf else 1.0)
    for k, rs in rows.items():
        counts = np.array([c for c, _ in rs])
        cols, sol = _lsq(counts, np.array([e for _, e in rs]), ridge)
        offsets[k, cols] = sol
        atoms[k] = counts.sum(axis=0)
    fixed = {k for k in rows if k // n_src in (unaligned or set())}
    for h in range(n_heads):
        keys = [k for k in rows if head_of[k] == h and k not in fixed]
        w = atoms[keys]
        refs[h] = (w * offsets[keys]).sum(axis=0) / np.maximum(w.sum(axis=0), 1)
        for k in (k for k in fixed if head_of[k] == h):
            only = (atoms[k] > 0) & (w.sum(axis=0) == 0)
            refs[h, only] = offsets[k, only]
        anchor = (anchors or {}).get(h)
        if anchor is not None:
            for k in keys:
                if k // n_src == anchor:
                    has = atoms[k] > 0
                    refs[h, has] = offsets[k, has]
        for k in keys:
            has = atoms[k] > 0
            shift[k, has] = offsets[k, has] - refs[h, has]
    return EnergyReferences(refs, shift, seen, float(np.sqrt(sq / nf)) if nf else 1.0)
