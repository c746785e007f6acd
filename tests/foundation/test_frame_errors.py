"""Frame errors: one definition and one naming scheme for energy (raw, aligned), force and stress errors."""

from __future__ import annotations

import numpy as np
import pytest

from unihub.foundation.data.frame import Frame
from unihub.foundation.data.units import EV_A3_TO_GPA
from unihub.foundation.metrics import array_errors, frame_errors


def _frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        numbers = np.array([14] * (1 + k % 3) + [8] * (2 + k % 2))
        out.append(Frame(numbers, rng.normal(size=(len(numbers), 3)), np.eye(3) * 10, np.array([True] * 3),
                         energy=-5.0 * len(numbers) + 0.01 * k, forces=rng.normal(size=(len(numbers), 3)),
                         stress=np.eye(3) * 0.01))
    return out


def test_a_constant_per_element_offset_counts_raw_but_not_aligned():
    frames = _frames(9)
    shift = {14: 0.3, 8: -0.1}  # eV per atom of each element
    preds = [{"energy": f.energy + sum(shift[int(z)] for z in f.numbers), "forces": f.forces + 0.002,
              "stress": f.stress + 0.001} for f in frames]
    err = frame_errors(frames, preds)
    assert err["energy_mae_meV_atom_aligned"] == pytest.approx(0.0, abs=1e-9)
    assert err["energy_mae_meV_atom_raw"] > 10
    assert err["force_mae_meV_A"] == pytest.approx(2.0)
    assert err["stress_mae_GPa"] == pytest.approx(0.001 * EV_A3_TO_GPA)
    assert err["frames"] == 9


def test_failed_predictions_and_missing_labels_are_left_out():
    frames = _frames(4)
    frames[0].stress = None
    preds = [None] + [{"energy": f.energy, "forces": f.forces} for f in frames[1:]]
    err = frame_errors(frames, preds)
    assert "stress_mae_GPa" not in err and err["frames"] == 4
    assert "energy_mae_meV_atom_aligned" not in err  # 3 frames cannot pin 2 offsets 3 times over
    assert err["energy_mae_meV_atom_raw"] == pytest.approx(0.0)
    assert "energy_mae_meV_atom_aligned" in frame_errors(frames, preds, min_per_offset=0)


def test_array_errors_average_all_nine_stress_components_and_skip_what_is_not_finite():
    stress_ref = np.zeros((3, 3, 3))
    stress = stress_ref.copy()
    stress[0, 0, 1] = stress[0, 1, 0] = 0.01  # one shear error, counted in both off-diagonal places
    stress[2] = np.nan  # a structure without a stress label
    forces_ref = np.zeros((4, 3))
    forces = np.array([[0.003, -0.004, 0.0], [0.0, 0.0, 0.0], [np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]])
    err = array_errors(forces=forces, forces_ref=forces_ref, stress=stress, stress_ref=stress_ref)
    assert err["stress_mae_GPa"] == pytest.approx(2 * 0.01 / 18 * EV_A3_TO_GPA)
    assert err["stress_rmse_GPa"] == pytest.approx(np.sqrt(2 * 0.01**2 / 18) * EV_A3_TO_GPA)
    assert err["force_mae_meV_A"] == pytest.approx(7.0 / 9)  # three atoms, nine components
    assert err["force_rmse_meV_A"] == pytest.approx(np.sqrt(25.0 / 9))
    assert not any(k.startswith("energy") for k in err)


def test_frame_errors_are_the_array_errors_of_the_stacked_labels():
    frames = _frames(7)
    rng = np.random.default_rng(1)
    preds = [{"energy": f.energy + rng.normal(), "forces": f.forces + rng.normal(size=f.forces.shape),
              "stress": f.stress + 0.01 * rng.normal(size=(3, 3))} for f in frames]
    counts = np.array([[np.sum(f.numbers == 8), np.sum(f.numbers == 14)] for f in frames])
    err = frame_errors(frames, preds)
    arrays = array_errors([p["energy"] for p in preds], [f.energy for f in frames], counts,
                          np.concatenate([p["forces"] for p in preds]), np.concatenate([f.forces for f in frames]),
                          np.stack([p["stress"] for p in preds]), np.stack([f.stress for f in frames]))
    assert err == {"frames": 7, **arrays}
    assert {"energy_rmse_meV_atom_raw", "energy_rmse_meV_atom_aligned", "force_rmse_meV_A",
            "stress_rmse_GPa"} <= set(err)
    raw = 1000 * np.mean([abs(p["energy"] - f.energy) / len(f) for f, p in zip(frames, preds)])
    assert err["energy_mae_meV_atom_raw"] == pytest.approx(raw)
