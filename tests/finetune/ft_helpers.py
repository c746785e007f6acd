"""Helpers of the fine-tuning tests: a tiny model, fcc cells, frames labelled by a model."""

import numpy as np
import torch
from ase.build import bulk

from unihub.foundation.data.frame import Frame
from unihub.foundation.model.config import ModelConfig
from unihub.zoo.models import UniversalModel

CU, NI, AL = 29, 28, 13


def tiny(seed: int) -> UniversalModel:
    torch.manual_seed(seed)
    m = UniversalModel(ModelConfig(features=8, vector_features=4, layers=2, cutoff=4.0, n_basis=4, fidelity_dim=4))
    with torch.no_grad():
        m.reference_energies.uniform_(-4, -2)
        m.seen_elements[:, [AL, NI, CU]] = True
    m.name = f"tiny-{seed}"
    return m.eval()


def cells(symbols: list[str], n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", 3.6 * rng.uniform(0.97, 1.03), cubic=True)
        a.symbols = [symbols[(k + j) % len(symbols)] for j in range(len(a))]
        a.rattle(0.08, seed=int(rng.integers(1 << 30)))
        out.append(a)
    return out


def label(model, atoms_list, fidelity="pbe", head=None, **kw) -> list[Frame]:
    preds = model.predict(atoms_list, head=head or fidelity)
    return [Frame(a.numbers, a.positions, np.asarray(a.cell), a.pbc, energy=p["energy"], forces=p["forces"],
                  stress=p.get("stress"), fidelity=fidelity, group=f"{kw.get('dataset', 'ft')}{k}", **kw)
            for k, (a, p) in enumerate(zip(atoms_list, preds))]
