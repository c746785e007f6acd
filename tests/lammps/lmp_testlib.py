"""Shared pieces of the LAMMPS plugin tests: availability, test potentials, comparisons."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest


def _why_unavailable() -> str | None:
    from finetune.mtp.lammps.runtime import find_install

    try:
        find_install()
    except RuntimeError as e:
        return str(e)
    if shutil.which("g++") is None:
        return "g++ is needed to build the LAMMPS plugin"
    return None


_REASON = _why_unavailable()
requires_lammps = pytest.mark.skipif(_REASON is not None, reason=f"LAMMPS tests skipped: {_REASON}")


def _mtp_testlib():
    """tests/mtp/mtp_testlib.py (random potentials, alloy cells), imported by path."""
    if "mtp_testlib" not in sys.modules:
        path = Path(__file__).parents[1] / "mtp" / "mtp_testlib.py"
        spec = importlib.util.spec_from_file_location("mtp_testlib", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["mtp_testlib"] = mod
    return sys.modules["mtp_testlib"]


def random_model(level: int, elements: list[str], seed: int = 0, scale: float = 0.05):
    return _mtp_testlib().random_model(level, elements, seed=seed, scale=scale)


def alloy(seed: int = 0, repeat: int = 1, rattle: float = 0.1, elements=("Si", "Ge")):
    """A rattled, strained (triclinic) diamond cell with the given elements mixed in."""
    from ase.data import atomic_numbers

    a = _mtp_testlib().alloy(seed=seed, repeat=repeat, rattle=rattle)
    rng = np.random.default_rng(seed + 1000)
    a.numbers = [atomic_numbers[s] for s in rng.choice(list(elements), len(a))]
    return a


def sw_fitted_si(path: Path, level: int = 10, n_frames: int = 12) -> Path:
    """A small Si MTP fitted (linear solve) to LAMMPS' Stillinger-Weber Si: stable in MD, unlike
    a random potential."""
    from ase.build import bulk

    from finetune.mtp import FitConfig, MTPModel, fit
    from finetune.mtp.lammps.evaluate import evaluate
    from finetune.mtp.lammps.runtime import find_install
    from foundation.data.frame import Frame

    sw = find_install().package / "share" / "lammps" / "potentials" / "Si.sw"
    rng = np.random.default_rng(0)
    structs = []
    for k in range(n_frames):
        a = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
        a.set_cell(a.cell[:] @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
        a.rattle(0.03 + 0.1 * rng.random(), seed=k)
        structs.append(a)
    labels = evaluate(structs, ["pair_style sw", f'pair_coeff * * "{sw}" Si'], ["Si"])
    frames = [Frame(a.numbers, a.positions, a.cell[:], a.pbc, energy=r["energy"], forces=r["forces"],
                    stress=r["stress"]) for a, r in zip(structs, labels)]
    model = MTPModel.from_level(level, ["Si"], min_dist=2.0, max_dist=5.0, radial_basis_size=8, seed=0)
    fit(model, frames, config=FitConfig(max_iter=0, threads=2, progress=False))
    model.save(path)
    return path


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: the relative error of a whole array, blind to near-zero components."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))
