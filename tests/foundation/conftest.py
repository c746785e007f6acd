import numpy as np
import pytest
import torch

from unihub.foundation.model.config import ModelConfig
from unihub.foundation.model.potential import UniversalPotential


@pytest.fixture(scope="module")
def model64():
    """A small random float64 model with non-trivial heads (so symmetry tests can fail)."""
    torch.manual_seed(0)
    m = UniversalPotential(ModelConfig(features=16, vector_features=8, layers=2, cutoff=4.0)).double()
    with torch.no_grad():
        m.reference_energies.uniform_(-3, -1)
        m.energy_scale.fill_(2.0)
    return m.eval()


@pytest.fixture
def triclinic():
    """A rattled, sheared three-element cell."""
    from ase import Atoms

    rng = np.random.default_rng(3)
    cell = np.array([[4.1, 0.0, 0.0], [0.7, 3.9, 0.0], [-0.4, 0.5, 4.4]])
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.25, 0.25, 0.25]])
    atoms = Atoms("SiSiGeCO", scaled_positions=frac, cell=cell, pbc=True)
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    return atoms
