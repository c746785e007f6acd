"""bench/transfer_study.py's rules: training frames spread over groups, nested by size; the DFT lattice references."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from unihub.foundation.data import Frame


@pytest.fixture(scope="module")
def study():
    path = Path(__file__).parents[1] / "bench" / "transfer_study.py"
    sys.path.insert(0, str(path.parent))  # the script imports its bench neighbours, as when run from bench/
    try:
        spec = importlib.util.spec_from_file_location("transfer_study", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(path.parent))


def frame(group: str, k: int, formula: str = "X", energy: float = 0.0, force: float = 0.0, stress: float = 0.0):
    return Frame([8], [[0.0, 0.0, 0.0]], np.eye(3) * (3 + k), True, energy=energy, forces=np.full((1, 3), force),
                 stress=np.full((3, 3), stress), group=group, info={"formula": formula, "k": k})


def test_spread_order_covers_every_group_before_repeating_one(study):
    sizes = {"a": 30, "b": 5, "c": 12, "d": 1}
    frames = [frame(g, k) for g, n in sizes.items() for k in range(n)]
    order = study.spread_order(frames, seed=0)
    assert sorted(id(f) for f in order) == sorted(id(f) for f in frames)  # a permutation
    assert {f.group for f in order[:4]} == set(sizes)
    assert {f.group for f in order[5:10]} == {"a", "b", "c"}  # d is spent, b lasts five rounds
    assert [f.info["k"] for f in order] == [f.info["k"] for f in study.spread_order(frames, seed=0)]
    assert [id(f) for f in order] != [id(f) for f in study.spread_order(frames, seed=1)]


def test_lattice_refs_take_the_lowest_relaxed_frame_per_formula(study):
    spec = {"formulas": ["SrO", "HfO2"], "fmax_dft": 0.05, "smax_dft_GPa": 0.5}
    frames = [frame("m1", 0, "SrO", energy=-5.0),
              frame("m2", 1, "SrO", energy=-9.0, force=0.2),  # lower, but its forces are not relaxed
              frame("m3", 2, "SrO", energy=-6.0),
              frame("m4", 3, "SrO", energy=-7.0, stress=0.01),  # 1.6 GPa: a strained cell
              frame("m5", 4, "O2", energy=-20.0)]
    refs = study.lattice_refs(frames, spec)
    assert list(refs) == ["SrO"] and refs["SrO"].group == "m3"
