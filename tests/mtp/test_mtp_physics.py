"""Energy, forces and stress of the compiled kernel behave physically."""

import numpy as np
import pytest
from ase import Atoms
from mtp_testlib import alloy
from scipy.spatial.transform import Rotation


def efs(model, atoms):
    atoms = atoms.copy()
    atoms.calc = model.calculator(skin=0.0)
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def test_forces_are_minus_energy_gradient(model16):
    atoms = alloy(seed=2)
    _, f, _ = efs(model16, atoms)
    h = 1e-5
    rng = np.random.default_rng(0)
    for i, a in zip(rng.choice(len(atoms), 4, replace=False), rng.integers(0, 3, 4)):
        p, m = atoms.copy(), atoms.copy()
        p.positions[i, a] += h
        m.positions[i, a] -= h
        fd = -(efs(model16, p)[0] - efs(model16, m)[0]) / (2 * h)
        assert f[i, a] == pytest.approx(fd, rel=1e-6, abs=1e-7 * np.abs(f).max())


def test_stress_is_strain_derivative(model16):
    atoms = alloy(seed=3)
    _, _, s = efs(model16, atoms)
    h = 1e-6
    V = atoms.get_volume()
    for a, b in [(0, 0), (1, 2), (0, 1)]:
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h / 2 if a != b else h
        out = []
        for sign in (1, -1):
            x = atoms.copy()
            x.set_cell(atoms.cell[:] @ (np.eye(3) + sign * eps), scale_atoms=True)
            out.append(efs(model16, x)[0])
        fd = (out[0] - out[1]) / (2 * h * V)
        assert s[a, b] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_rotation_and_permutation_invariance(model16):
    atoms = alloy(seed=4)
    e, f, s = efs(model16, atoms)
    R = Rotation.from_euler("zyx", [0.3, -1.1, 2.0]).as_matrix()
    rot = Atoms(atoms.numbers, positions=atoms.positions @ R.T, cell=atoms.cell[:] @ R.T, pbc=True)
    e2, f2, s2 = efs(model16, rot)
    assert e2 == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(f2, f @ R.T, atol=1e-10 * np.abs(f).max())
    np.testing.assert_allclose(s2, R @ s @ R.T, atol=1e-10 * np.abs(s).max())
    perm = np.random.default_rng(1).permutation(len(atoms))
    e3, f3, _ = efs(model16, atoms[perm])
    assert e3 == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(f3, f[perm], atol=1e-10 * np.abs(f).max())


def test_supercell_is_extensive(model16):
    atoms = alloy(seed=5)
    e, f, s = efs(model16, atoms)
    big = atoms.repeat((2, 1, 3))
    e6, f6, s6 = efs(model16, big)
    assert e6 == pytest.approx(6 * e, rel=1e-10)
    np.testing.assert_allclose(f6, np.tile(f, (6, 1)), atol=1e-9 * np.abs(f).max())
    np.testing.assert_allclose(s6, s, atol=1e-10 * np.abs(s).max())


def test_verlet_reuse_matches_rebuild_and_predict(model16):
    atoms = alloy(seed=6, repeat=2)
    calc = model16.calculator(skin=1.0, threads=2)
    atoms.calc = calc
    atoms.get_forces()
    for k in range(3):
        atoms.positions += 0.05 * np.random.default_rng(k).normal(size=atoms.positions.shape).clip(-1, 1) * 0.1
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
        e_ref, f_ref, _ = efs(model16, atoms)
        assert e == pytest.approx(e_ref, rel=1e-12)
        np.testing.assert_allclose(f, f_ref, atol=1e-10 * np.abs(f_ref).max())
    assert calc.nlist.builds == 1  # the list was reused
    assert atoms.get_potential_energies().sum() == pytest.approx(e, rel=1e-12)
    (p,) = model16.predict([atoms])
    assert p["energy"] == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(p["stress"], atoms.get_stress(voigt=False), atol=1e-12)


def test_molecule_without_cell_and_bad_input(model16):
    mol = Atoms("Si3Ge", positions=[[0, 0, 0], [2.3, 0, 0], [0, 2.4, 0.2], [1.1, 1.0, 1.9]])
    (p,) = model16.predict([mol])
    assert np.isfinite(p["energy"]) and p["stress"] is None
    np.testing.assert_allclose(p["forces"].sum(axis=0), 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="not in this potential"):
        model16.predict([Atoms("C", positions=[[0, 0, 0]])])
    with pytest.raises(ValueError, match="NaN"):
        model16.predict([Atoms("Si", positions=[[np.nan, 0, 0]])])
