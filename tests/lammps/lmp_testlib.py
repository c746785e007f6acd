"""Shared pieces of the LAMMPS plugin tests: availability, test potentials, comparisons."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest


def _why_unavailable() -> str | None:
    from unihub.finetune.mtp.lammps.runtime import unavailable

    if unavailable() is not None:
        return unavailable()
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
    """A small Si MTP fitted to LAMMPS' Stillinger-Weber Si: stable in MD, unlike a random potential."""
    from unihub.finetune.mtp.lammps.reference import sw_fitted_si as fit_to_sw

    fit_to_sw(path, level, n_frames, threads=2)
    return path


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: the relative error of a whole array, blind to near-zero components."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))
