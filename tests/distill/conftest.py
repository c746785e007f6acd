"""Teachers for distillation tests: ASE's EMT behind the hub's model face (fast, physical), and a
tiny random universal model (the real teacher class, batched ``predict`` with a head)."""

import numpy as np
import pytest
from ase.calculators.emt import EMT


class EMTTeacher:
    """EMT answering ``predict(list, head=...)`` and ``calculator(head=...)`` like a hub model."""

    name = "emt"

    def __init__(self):
        self.calls = 0  # structures labelled through predict

    def calculator(self, head=None):
        return EMT()

    def predict(self, structures, head=None, **kw):
        out = []
        for a in structures:
            b = a.copy()
            b.calc = EMT()
            r = {"energy": b.get_potential_energy(), "forces": b.get_forces()}
            if b.pbc.all():
                from ase.stress import voigt_6_to_full_3x3_stress

                r["stress"] = voigt_6_to_full_3x3_stress(b.get_stress())
            out.append(r)
        self.calls += len(out)
        return out

    def __repr__(self):
        return "EMTTeacher()"


@pytest.fixture
def emt_teacher():
    return EMTTeacher()


@pytest.fixture(scope="session")
def tiny_universal():
    import torch

    from unihub.foundation.model.config import ModelConfig
    from unihub.zoo.models import UniversalModel

    torch.manual_seed(0)
    m = UniversalModel(ModelConfig(features=8, vector_features=2, layers=1, n_basis=4, fidelity_dim=2)).double()
    m.name = "tiny"
    with torch.no_grad():
        m.reference_energies[:, 14] = -5.4
    return m


@pytest.fixture
def rng():
    return np.random.default_rng(0)
