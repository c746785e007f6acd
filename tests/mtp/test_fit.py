"""Fitting: exact loss gradient, recovery of a teacher potential, determinism."""

import numpy as np
import pytest
from mtp_testlib import alloy, check_loss_gradient, random_model

from unihub.finetune.mtp.fit import FitConfig, Objective, errors, fit, prepare
from unihub.finetune.mtp.model import MTPModel
from unihub.foundation.data.frame import Frame
from unihub.foundation.metrics import frame_errors


def labelled(teacher, n, seed=0):
    frames = []
    for k in range(n):
        a = alloy(seed=seed + k, rattle=0.15)
        (p,) = teacher.predict([a])
        frames.append(Frame(a.numbers, a.positions, a.cell[:], a.pbc, energy=p["energy"], forces=p["forces"],
                            stress=p["stress"]))
    return frames


@pytest.mark.parametrize("relative", [None, 0.5])
def test_loss_gradient_matches_finite_differences(relative):
    model = random_model(10, ["Si", "Ge"], seed=2)
    rng = np.random.default_rng(0)
    frames = labelled(random_model(6, ["Si", "Ge"], seed=5), 3)
    for f in frames:  # labels unrelated to the model so every residual is non-zero
        f.forces = f.forces + rng.normal(size=f.forces.shape)
        f.stress = f.stress + 0.01 * rng.normal(size=(3, 3))
    ds, y = prepare(model, frames)
    check_loss_gradient(Objective(model, ds, y, FitConfig(stress_weight=1e-3, force_relative=relative)), rng)


def test_relative_force_weights_and_the_linear_solve_minimise_the_same_loss():
    from unihub.finetune.mtp.fit import force_weights

    forces = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [np.nan, 0.0, 0.0]])
    np.testing.assert_allclose(force_weights(forces), [1, 1, 0])
    np.testing.assert_allclose(force_weights(forces, 1.0), [1, 1 / 36, 0])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive force scale"):
            force_weights(forces, bad)

    model = random_model(8, ["Si", "Ge"], seed=3)
    frames = labelled(random_model(6, ["Si", "Ge"], seed=5, scale=0.05), 4)
    ds, y = prepare(model, frames)
    obj = Objective(model, ds, y, FitConfig(force_relative=0.3))
    dE, dF, dS = obj.residuals()
    w = force_weights(y.forces, 0.3)
    assert w.min() < 0.5 * w.max()  # the labels span force scales, so the weights matter
    by_hand = (np.mean((dE / y.n_atoms) ** 2) + 0.01 * np.sum(w[:, None] * dF ** 2) / (3 * w.sum())
               + 1e-4 * 160.21766208 ** 2 * np.mean(dS ** 2))
    assert obj(obj.theta())[0] == pytest.approx(by_hand, rel=1e-10)
    # the linear solve is the minimum of that weighted loss over the linear coefficients
    n_lin = sum(obj.shapes[:2])
    g0 = obj(obj.theta())[1][:n_lin]
    obj.linear_solve()
    g1 = obj(obj.theta())[1][:n_lin]
    assert np.abs(g1).max() < 1e-6 * np.abs(g0).max()


def test_a_heavier_force_weight_trades_energy_error_for_force_error():
    """Weighted least squares: raising one block's weight cannot raise that block's residual."""
    frames = labelled(random_model(6, ["Si", "Ge"], seed=5, scale=0.05), 4)
    for f in frames:  # labels no level-6 model reproduces, so the two terms compete
        f.forces = f.forces + np.random.default_rng(1).normal(scale=0.3, size=f.forces.shape)
    errs = {}
    for fw in (0.001, 1.0):
        model = random_model(6, ["Si", "Ge"], seed=3)
        errs[fw] = fit(model, frames, None, FitConfig(max_iter=0, force_weight=fw, progress=False)).train
    assert errs[1.0]["force_rmse_meV_A"] < errs[0.001]["force_rmse_meV_A"]
    assert errs[1.0]["energy_rmse_meV_atom_raw"] > errs[0.001]["energy_rmse_meV_atom_raw"]
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="force_weight must be a finite weight"):
            fit(random_model(6, ["Si", "Ge"], seed=3), frames, None, FitConfig(max_iter=0, force_weight=bad))


def test_fit_learns_a_teacher_and_is_deterministic():
    teacher = random_model(8, ["Si", "Ge"], seed=11, scale=0.02)
    train, valid = labelled(teacher, 8), labelled(teacher, 3, seed=100)
    runs = []
    for _ in range(2):
        student = MTPModel.from_level(8, ["Si", "Ge"], min_dist=1.8, max_dist=4.5, radial_basis_size=6, seed=4)
        res = fit(student, train, valid, FitConfig(max_iter=40, threads=2, seed=4, progress=False))
        runs.append((student.params.moment_coeffs.copy(), res))
    (c1, r1), (c2, r2) = runs
    np.testing.assert_array_equal(c1, c2)
    assert r1.history == r2.history
    assert r1.history[-1] < 0.2 * r1.history[0]
    f_scale = 1e3 * np.abs(np.concatenate([f.forces for f in valid])).mean()  # meV/Å
    assert r1.valid["force_mae_meV_A"] < 0.2 * f_scale


def test_errors_on_packed_labels_are_the_frame_errors_of_the_predictions():
    frames = labelled(random_model(6, ["Si", "Ge"], seed=5), 7)
    frames[0].stress = frames[0].stress + 0.01  # every quantity off, and some labels missing
    frames[1].forces, frames[2].stress = None, None
    for f in frames[3:]:
        f.energy += 0.05 * len(f)
    model = random_model(6, ["Si", "Ge"], seed=3)
    packed = errors(model, *prepare(model, frames))
    by_frame = frame_errors(frames, model.predict([f.to_atoms() for f in frames]))
    assert set(packed) == set(by_frame) >= {"energy_rmse_meV_atom_aligned", "force_rmse_meV_A", "stress_mae_GPa"}
    for key, value in by_frame.items():
        assert packed[key] == pytest.approx(value, rel=1e-8), key
