"""relax/md refuse bad arguments, accept pymatgen Structures, and stop a run that leaves physics."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.foundation.simulate import MDExplosionError, md, relax


@pytest.mark.parametrize("kwargs, words", [
    ({"temperature": -300}, "temperature must be >= 0 K"),
    ({"temperature": float("nan")}, "temperature must be >= 0 K"),
    ({"timestep": 20.0}, r"timestep must be in \(0, 10\] fs"),
    ({"timestep": 0.0}, "timestep must be in"),
    ({"steps": -1}, "steps must be >= 0"),
    ({"friction": 0.0}, "friction must be > 0"),
    ({"loginterval": 0}, "loginterval must be >= 1"),
])
def test_md_refuses_bad_arguments_before_moving_an_atom(kwargs, words):
    atoms = bulk("Cu", "fcc", 3.6) * (2, 2, 2)
    before = atoms.positions.copy()
    args = {"temperature": 300.0, "steps": 5, **kwargs}
    with pytest.raises(ValueError, match=words):
        md(atoms, calculator=EMT(), progress=False, **args)
    np.testing.assert_array_equal(atoms.positions, before)


def test_an_exploding_run_stops_with_the_step_and_the_cause():
    atoms = bulk("Cu", "fcc", 3.6) * (2, 2, 2)
    with pytest.raises(MDExplosionError, match=r"MD stopped at step \d+: .*timestep \(now 10 fs\)"):
        md(atoms, 30000.0, 400, ensemble="nve", timestep=10.0, calculator=EMT(), loginterval=1, progress=False)


def test_a_sane_run_is_not_stopped_and_structures_are_accepted():
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(bulk("Cu", "fcc", 3.6) * (2, 2, 2))
    out = relax(structure, fmax=0.05, calculator=EMT(), progress=False)
    assert out["converged"] and len(out["atoms"]) == 8
    trace = md(structure, 300.0, 20, calculator=EMT(), loginterval=5, progress=False)
    assert list(trace["step"]) == [0, 5, 10, 15, 20] and trace["atoms"].calc is not None
    with pytest.raises(ValueError, match="fmax must be a positive force"):
        relax(structure, fmax=0.0, calculator=EMT())


def test_md_observer_sees_every_loginterval_and_the_last_step_and_can_stop_the_run():
    atoms = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    seen = []

    def observe(a, step):
        seen.append(step)
        return step < 20

    out = md(atoms, 300.0, 25, calculator=EMT(), loginterval=10, observe=observe, progress=False)
    assert seen == [10, 20] and out["steps"] == 20
    seen.clear()
    assert md(atoms, 300.0, 25, calculator=EMT(), loginterval=10, observe=lambda a, s: seen.append(s),
              progress=False)["steps"] == 25
    assert seen == [10, 20, 25]


def test_md_without_guard_runs_on_where_the_guard_would_stop_it():
    atoms = bulk("Cu", "fcc", 3.6) * (2, 2, 2)
    atoms.positions[1] = atoms.positions[0] + 0.3  # closer than the overlap guard
    with pytest.raises(MDExplosionError):
        md(atoms.copy(), 300.0, 2, calculator=EMT(), loginterval=1, progress=False)
    assert md(atoms.copy(), 300.0, 2, calculator=EMT(), loginterval=1, guard=False, progress=False)["steps"] == 2
