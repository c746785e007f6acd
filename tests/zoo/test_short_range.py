"""Every shipped universal model: a pair's energy rises monotonically as it is pushed together, for all Z ≤ 94."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from unihub import list_models, load_model
from unihub.foundation.validate import MIN_DISTANCE

SHIPPED = [m["name"] for m in list_models() if m["kind"] == "universal"]
DISTANCES = np.linspace(MIN_DISTANCE, 0.6, 26)  # Å: from 0.6 down to the overlap guard


@pytest.mark.parametrize("name", SHIPPED)
def test_every_pair_is_repulsive_below_0_6_angstrom(name):
    import torch

    torch.set_num_threads(1)
    model = load_model(name)
    assert model.config.inner_switch is not None  # the guarantee is structural, not a fit
    bad = []
    for z1 in range(1, 95):
        dimers = [Atoms(numbers=[z1, z2], positions=[[0, 0, 0], [r, 0, 0]]) for z2 in range(z1, 95) for r in DISTANCES]
        e = np.array([p["energy"] for p in model.predict(dimers, forces=False, stress=False)])
        for z2, row in zip(range(z1, 95), e.reshape(-1, len(DISTANCES)), strict=True):
            if not (np.diff(row) < 0).all():
                bad.append((z1, z2, float(np.diff(row).max())))
    assert not bad, f"{len(bad)} pairs gain energy when pulled apart below 0.6 Å, e.g. {bad[:5]}"
