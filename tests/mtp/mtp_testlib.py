"""Shared small structures and potentials for the MTP tests."""

from __future__ import annotations

import numpy as np
from ase.build import bulk

from unihub.finetune.mtp.model import MTPModel


def random_model(level: int, elements: list[str], seed: int = 0, scale: float = 0.05) -> MTPModel:
    """A potential with random (but smooth, bounded) coefficients."""
    rng = np.random.default_rng(seed)
    m = MTPModel.from_level(level, elements, min_dist=1.8, max_dist=4.5, radial_basis_size=6, seed=seed)
    p = m.params
    p.radial_coeffs = p.radial_coeffs * 0.1
    p.species_coeffs = rng.normal(size=p.species_count)
    p.moment_coeffs = rng.normal(size=p.n_scalar) * scale
    return m


def alloy(seed: int = 0, repeat: int = 1, rattle: float = 0.1):
    """A rattled, strained diamond Si/Ge cell."""
    rng = np.random.default_rng(seed)
    a = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    a.numbers[rng.random(len(a)) < 0.4] = 32
    a.rattle(rattle, seed=seed)
    a.set_cell(a.cell[:] @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
    return a


def check_loss_gradient(obj, rng: np.random.Generator, n: int = 12) -> None:
    """The fit objective's gradient against central differences on ``n`` random parameters."""
    import pytest

    th = obj.theta()
    _, g = obj(th)
    for i in rng.choice(len(th), n, replace=False):
        h = 1e-6 * max(1.0, abs(th[i]))
        tp, tm = th.copy(), th.copy()
        tp[i] += h
        tm[i] -= h
        fd = (obj(tp)[0] - obj(tm)[0]) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-4, abs=1e-6 * np.abs(g).max())
