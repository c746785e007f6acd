"""The shipped universal-v1: loads offline with checksums, and is finite on every element it has seen."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii

from unihub import zoo
from unihub.zoo import list_models, load_model

SHIPPED = Path(zoo.__file__).parent / "models" / "universal-v1"


@pytest.fixture(scope="module")
def uv1():
    return load_model("universal-v1")


def test_registered_and_offline(uv1, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UNIHUB_OFFLINE", "1")
    assert "universal-v1" in [m["name"] for m in list_models()]
    assert load_model("universal-v1").num_parameters() == uv1.num_parameters()
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 20 * 2**20  # ≤ 20 MB shipped


def test_finite_on_every_seen_element(uv1):
    stats = json.loads((SHIPPED / "training_stats.json").read_text())
    elements = list(stats["frames_per_element"])
    assert len(elements) >= 85
    structures = []
    for el in elements:
        z = atomic_numbers[el]
        d = 2 * covalent_radii[z]  # nearest-neighbour distance of an fcc crystal
        a = d * np.sqrt(2)
        structures.append(Atoms(el, cell=[[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]], pbc=True))
    heads = {el: [h for h, ok in zip(uv1.config.fidelities, uv1.seen_elements[:, atomic_numbers[el]]) if ok]
             for el in elements}
    for head in uv1.config.fidelities:
        subset = [s for s, el in zip(structures, elements) if head in heads[el]]
        for s, r in zip(subset, uv1.predict(subset, head=head)):
            assert np.isfinite(r["energy"]) and np.isfinite(r["forces"]).all(), (head, s.get_chemical_formula())
            assert np.isfinite(r["stress"]).all()
    assert all(heads[el] for el in elements)
