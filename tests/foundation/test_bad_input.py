"""Bad structures are refused with messages that name the problem."""

import numpy as np
import pytest
from ase import Atoms


def run(model, atoms):
    atoms.calc = model.calculator()
    return atoms.get_potential_energy()


@pytest.mark.parametrize(
    "atoms, match",
    [
        (Atoms(), "empty structure"),
        (Atoms("Si2", positions=[[0, 0, 0], [np.nan, 0, 0]]), "NaN"),
        (Atoms("Si2", positions=[[0, 0, 0], [np.inf, 0, 0]]), "NaN or infinite"),
        (Atoms("Si2", positions=[[0, 0, 0], [0.05, 0, 0]]), "overlapping atoms"),
        (Atoms("Si", cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True), "singular"),
        (Atoms("Si", cell=[[np.nan, 0, 0], [0, 2, 0], [0, 0, 1]], pbc=True), "cell contains NaN"),
    ],
)
def test_refused(model64, atoms, match):
    with pytest.raises(ValueError, match=match):
        run(model64, atoms)


def test_element_outside_periodic_table(model64):
    atoms = Atoms(numbers=[14, 119], positions=[[0, 0, 0], [2, 0, 0]])
    with pytest.raises(ValueError, match="outside Z=1..118"):
        run(model64, atoms)
    atoms = Atoms(numbers=[14, 0], positions=[[0, 0, 0], [2, 0, 0]])
    with pytest.raises(ValueError, match="outside Z=1..118"):
        run(model64, atoms)


def test_unknown_head(model64):
    with pytest.raises(ValueError, match="unknown fidelity head"):
        model64.calculator(head="hse06")


def test_isolated_atom_and_molecule_work(model64):
    assert np.isfinite(run(model64, Atoms("Fe", positions=[[0, 0, 0]])))
    mol = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                   [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])
    assert np.isfinite(run(model64, mol))
    mol.calc = model64.calculator()
    assert np.isfinite(mol.get_forces()).all()


def test_unseen_elements_warn(model64):
    import copy

    m = copy.deepcopy(model64)
    m.seen_elements[:, 14] = True  # only Si has data
    atoms = Atoms("SiAu", positions=[[0, 0, 0], [2.4, 0, 0]])
    with pytest.warns(UserWarning, match=r"\['Au'\] had no training data"):
        run(m, atoms)


def test_predict_warns_like_the_calculator_and_takes_one_structure(model64):
    """predict() on elements a head never saw warns as the calculator does; one structure needs no list."""
    import copy
    import warnings

    m = copy.deepcopy(model64)
    m.seen_elements[:] = False
    m.seen_elements[m.fidelity_index("lda"), [15, 49]] = True  # a head that knows only In and P
    atoms = Atoms("SiO", positions=[[0, 0, 0], [1.6, 0, 0]])
    with pytest.warns(UserWarning, match=r"\['O', 'Si'\] had no training data for head 'lda'"):
        out = m.predict(atoms, head="lda")
    assert len(out) == 1 and np.isfinite(out[0]["energy"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.predict([Atoms("InP", positions=[[0, 0, 0], [2.5, 0, 0]])], head="lda")  # known elements: silent
