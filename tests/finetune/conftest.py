"""A tiny base model, fine-tune frames labelled by a related model, and a small 'pretraining mix'."""

import pytest
from ft_helpers import cells, label, tiny

from unihub.foundation.data.frame import Frame
from unihub.foundation.training.data import FrameSource


@pytest.fixture(scope="session")
def base():
    return tiny(0)


@pytest.fixture(scope="session")
def ft_frames(base):
    """Cu/Ni frames whose labels are the base model's plus a smaller second model's: learnable, unit-consistent."""
    teacher = tiny(1)
    atoms = cells(["Cu", "Ni"], 12, seed=5)
    a = label(base, atoms, dataset="ft")
    b = label(teacher, atoms, dataset="ft")
    return [Frame(x.numbers, x.positions, x.cell, x.pbc, energy=x.energy + 0.3 * y.energy,
                  forces=x.forces + 0.3 * y.forces, fidelity="pbe", dataset="ft", group=x.group)
            for x, y in zip(a, b)]


@pytest.fixture(scope="session")
def pretrain(base):
    """Four datasets of known element sets and two functionals, labelled by the base model."""
    frames = (label(base, cells(["Cu"], 6, 1), dataset="cu") + label(base, cells(["Cu", "Ni"], 6, 2), dataset="cuni")
              + label(base, cells(["Al", "Ni"], 6, 3), "pbesol", dataset="alni")
              + label(base, cells(["Cu", "Ni", "Al"], 6, 4), dataset="cunial"))
    splits = ["val" if k % 6 == 5 else "train" for k in range(len(frames))]
    for f, s in zip(frames, splits):
        f.split = s
    return FrameSource(frames, splits)


@pytest.fixture(scope="session")
def real_frames():
    """``real_frames(name)`` -> the frames of a shared fine-tune file (``finetune/<name>/<name>.extxyz``)."""
    import os
    from pathlib import Path

    from unihub.foundation.data import read_frames

    root = Path(os.environ.get("UNIHUB_DATA") or Path(__file__).parents[3] / "shared" / "data")
    cache: dict = {}

    def get(name: str):
        path = root / "finetune" / name / f"{name}.extxyz"
        if not path.exists():
            pytest.skip(f"shared fine-tune data not found at {path}; set UNIHUB_DATA")
        if name not in cache:
            cache[name] = read_frames(path)
        return cache[name]

    return get
