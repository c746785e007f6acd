"""Perturbed copies of a base structure: strained, sheared, rattled (on a supercell), with a vacancy."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .geometry import check_contacts, reduced_formula, supercell

PERTURBED = ("strained", "sheared", "rattled", "vacancy")
# copies only a stream that names them makes (the default stream stays as it was)
OPTIONAL = ("wide_strained",)
PERTURB_WEIGHTS = {"rattled": 0.4, "strained": 0.25, "sheared": 0.2, "vacancy": 0.15, "wide_strained": 0.25}
# isotropic linear strain beyond ``strained``'s ±10 %: expansion to +30 % (three draws in four), compression to -15 %
WIDE_STRAIN = ((0.10, 0.30), (-0.15, -0.10))


def _perturb(base: Atoms, kind: str, rng: np.random.Generator, max_atoms: int) -> Atoms | None:
    if kind in ("strained", "sheared", "wide_strained"):
        if kind == "strained":
            eps = np.eye(3) * rng.uniform(-0.10, 0.10)
        elif kind == "wide_strained":
            lo, hi = WIDE_STRAIN[0] if rng.random() < 0.75 else WIDE_STRAIN[1]
            eps = np.eye(3) * rng.uniform(lo, hi)
        else:
            off = rng.uniform(-0.05, 0.05, 3)
            eps = np.array([[0, off[2], off[1]], [off[2], 0, off[0]], [off[1], off[0], 0]])
        a = base.copy()
        a.set_cell(base.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        a.info["strain"] = eps
        return a
    a, reps = supercell(base, max_atoms)
    a.info["supercell"] = " ".join(map(str, reps))
    if kind == "rattled":
        sigma = float(rng.uniform(0.02, 0.10))
        a.positions = a.positions + rng.normal(0.0, sigma, a.positions.shape)
        a.info["rattle"] = sigma
        return a
    if kind == "vacancy":
        if len(a) < 8:
            return None
        k = int(rng.integers(len(a)))
        a.info["vacancy"] = f"{a[k].symbol}{k}"
        del a[k]
        return a
    raise ValueError(kind)


def _copy(seed: int, block: int, base: Atoms, copies: list[str], max_atoms: int, cid: str) -> Atoms:
    rng = np.random.default_rng([seed, block, 1])
    w = np.array([PERTURB_WEIGHTS[k] for k in copies])
    kind = copies[int(rng.choice(len(copies), p=w / w.sum()))]
    for _ in range(50):
        k = kind
        if k == "vacancy" and len(supercell(base, max_atoms)[0]) < 8:
            k = "rattled" if "rattled" in copies else "strained"  # too small for a vacancy
        a = _perturb(base, k, rng, max_atoms)
        if a is not None and check_contacts(a):
            a.info.update(id=cid, parent=base.info["id"], source=k, formula=reduced_formula(a))
            a.info.pop("volume_scale", None)
            return a
    # the guard rejected every draw (tight contacts): an unperturbed supercell is always allowed
    a, reps = supercell(base, max_atoms)
    a.info.update(id=cid, parent=base.info["id"], source="rattled", rattle=0.0, supercell=" ".join(map(str, reps)),
                  formula=reduced_formula(a))
    return a
