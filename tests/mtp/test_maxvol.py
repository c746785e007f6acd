"""MaxVol active set and extrapolation grade."""

import numpy as np
from mtp_testlib import alloy, random_model

from unihub.finetune.mtp.maxvol import maxvol, select_active_set


def test_maxvol_bounds_all_rows():
    X = np.random.default_rng(0).normal(size=(300, 12))
    rows = maxvol(X, tol=1e-6)
    C = X @ np.linalg.inv(X[rows])
    assert np.abs(C).max() <= 1 + 1e-6
    assert len(set(rows.tolist())) == 12


def test_grade_interpolation_vs_extrapolation():
    model = random_model(8, ["Si", "Ge"], seed=3)
    train = [alloy(seed=k, repeat=2, rattle=0.1) for k in range(4)]
    active = select_active_set(model, train, mode="neighborhood")
    assert model.grade(train, active).max() <= 1 + 1e-3
    squeezed = alloy(seed=50, rattle=0.1)
    squeezed.set_cell(squeezed.cell[:] * 0.8, scale_atoms=True)
    assert model.grade([squeezed], active)[0] > 1.5
    conf = select_active_set(model, train + [alloy(seed=k) for k in range(10, 30)], mode="configuration")
    assert model.grade([squeezed], conf)[0] > 1.0
