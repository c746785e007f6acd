"""The timing harness: warm-up calls are made but not timed, every repeat is timed, the load is recorded."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.foundation.timing import time_calculator, time_calls


def test_warmups_run_untimed_and_repeats_are_timed():
    calls, prepared = [], []
    t = time_calls(calls.append, repeats=4, warmup=2, prepare=prepared.append)
    assert calls == prepared == [-2, -1, 0, 1, 2, 3]
    assert len(t.times_s) == 4 and t.warmup == 2
    assert t.median_s == pytest.approx(float(np.median(t.times_s)))
    assert t.us_per(10) == pytest.approx(1e5 * t.median_s)
    assert t.load.startswith("load ") and " -> " in t.load


def test_calculator_calls_see_fresh_positions_and_leave_the_input_alone():
    atoms = bulk("Cu", "fcc", 3.6, cubic=True)
    before = atoms.positions.copy()
    calc = EMT()
    t = time_calculator(calc, atoms, repeats=3)
    assert len(t.times_s) == 3
    assert np.array_equal(atoms.positions, before) and atoms.calc is None
    assert not np.allclose(calc.atoms.positions, before)  # displaced, so no cached result was served


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats"):
        time_calls(lambda k: None, repeats=0)
