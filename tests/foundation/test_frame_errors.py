"""Frame errors: one definition and one naming scheme for energy (raw, aligned), force and stress errors."""

from __future__ import annotations

import numpy as np
import pytest

from unihub.foundation.data.frame import Frame
from unihub.foundation.data.units import EV_A3_TO_GPA
from unihub.foundation.metrics import frame_errors


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
