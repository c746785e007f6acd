"""The repulsive core under an MTP (``finetune/mtp/repulsion.py``): ZBL and its switch, forces and stress against finite
differences, zero on the structures it was built from, the table file, and the model that carries it."""

import numpy as np
import pytest
from ase import Atoms
from mtp_testlib import alloy, random_model

from unihub.finetune.mtp.fit import prepare
from unihub.finetune.mtp.model import MTPModel
from unihub.finetune.mtp.repulsion import CoreRepulsion, core_path, switch, zbl


def _core(elements=("Si", "Ge"), r_in=1.2, r_out=2.0) -> CoreRepulsion:
    n = len(elements)
    return CoreRepulsion(tuple(elements), np.full((n, n), r_in), np.full((n, n), r_out))


def _squeezed(seed=0):
    """An alloy cell with two atoms pushed to 1.5 Å apart, inside the core."""
    a = alloy(seed=seed, rattle=0.05)
    u = a.positions[1] - a.positions[0]
    a.positions[1] = a.positions[0] + 1.5 * u / np.linalg.norm(u)
    return a


def test_zbl_derivative_and_magnitude():
    r = np.array([0.5, 1.0, 1.7])
    e, de = zbl(np.full(3, 8.0), np.full(3, 8.0), r)
    h = 1e-6
    num = (zbl(np.full(3, 8.0), np.full(3, 8.0), r + h)[0] - zbl(np.full(3, 8.0), np.full(3, 8.0), r - h)[0]) / (2 * h)
    assert np.allclose(de, num, rtol=1e-6)
    assert (np.diff(e) < 0).all() and (de < 0).all()  # repulsive, falling with distance
    assert 100 < e[0] < 300  # O-O at 0.5 Å: the ZBL universal screening gives ~190 eV


def test_switch_is_c1_at_both_ends():
    r = np.array([1.0, 1.2, 1.6, 2.0, 2.5])
    s, ds = switch(r, 1.2, 2.0)
    assert s[0] == s[1] == 1.0 and s[3] == s[4] == 0.0 and 0 < s[2] < 1
    assert ds[1] == ds[3] == 0.0 and ds[2] < 0


@pytest.mark.parametrize("pbc", [True, False])
def test_forces_are_minus_the_energy_gradient(pbc):
    core, a = _core(), _squeezed()
    a.pbc = pbc
    e, f, _ = core.compute(a)
    assert e.sum() > 0.1 and np.abs(f).max() > 0.1  # the squeezed pair is inside the core
    h = 1e-5
    for atom, k in [(0, 0), (1, 2), (1, 1)]:
        b = a.copy()
        b.positions[atom, k] += h
        c = a.copy()
        c.positions[atom, k] -= h
        num = -(core.compute(b)[0].sum() - core.compute(c)[0].sum()) / (2 * h)
        assert f[atom, k] == pytest.approx(num, rel=1e-5, abs=1e-8)


def test_stress_is_the_strain_derivative():
    core, a = _core(), _squeezed()
    _, _, s = core.compute(a)
    h = 1e-6
    for i, j in [(0, 0), (1, 2), (2, 1)]:
        eps = np.zeros((3, 3))
        eps[i, j] = h
        out = []
        for sign in (1, -1):
            b = a.copy()
            b.set_cell(a.cell[:] @ (np.eye(3) + sign * eps), scale_atoms=True)
            out.append(core.compute(b)[0].sum())
        assert s[i, j] == pytest.approx((out[0] - out[1]) / (2 * h) / a.get_volume(), rel=1e-5, abs=1e-9)


def test_built_core_leaves_its_structures_unchanged():
    frames = [alloy(seed=s, rattle=0.15) for s in range(3)]
    core = CoreRepulsion.from_structures(frames, ["Si", "Ge"], r_max=4.5, width=0.5)
    for a in frames:
        e, f, s = core.compute(a)
        assert e.sum() == 0.0 and not f.any() and not s.any()
    assert np.allclose(core.r_out - core.r_in, 0.5) and np.allclose(core.r_out, core.r_out.T)
    assert core.compute(_squeezed())[0].sum() > 0  # a pair shorter than any in the frames meets the wall


def test_bad_parameters_refused():
    with pytest.raises(ValueError, match="r_in < r_out"):
        _core(r_in=2.0, r_out=1.5)
    with pytest.raises(ValueError, match="symmetric"):
        CoreRepulsion(("Si", "Ge"), np.array([[1.0, 1.0], [1.1, 1.0]]), np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="not in this core"):
        _core().compute(Atoms("C2", positions=[[0, 0, 0], [0, 0, 1]]))


def test_table_round_trip_and_refusal(tmp_path):
    core = CoreRepulsion(("Si", "Ge"), np.array([[1.0, 1.1], [1.1, 1.3]]), np.array([[1.8, 2.0], [2.0, 2.2]]))
    path = tmp_path / "x.core.table"
    core.write_table(path, points=50)
    back = CoreRepulsion.read_table(path)
    assert back.elements == core.elements and np.array_equal(back.r_in, core.r_in)
    assert np.array_equal(back.r_out, core.r_out)
    # the tabulated energies are the core's
    text = path.read_text().split("Si-Ge\nN 50")[1].splitlines()[2:52]
    r, e = np.array([[float(x) for x in line.split()[1:3]] for line in text]).T
    assert np.allclose(e, core.pair_energy(np.zeros(50, int), np.ones(50, int), r)[0], rtol=1e-10)
    (tmp_path / "bad.table").write_text("# something else\n")
    with pytest.raises(ValueError, match="not a unihub core table"):
        CoreRepulsion.read_table(tmp_path / "bad.table")


def test_model_with_core_saves_loads_and_predicts(tmp_path):
    m = random_model(8, ["Si", "Ge"], seed=1)
    m.core = _core()
    files = m.save(tmp_path / "s.mtp")
    assert files == [tmp_path / "s.mtp", core_path(tmp_path / "s.mtp")] and files[1].name == "s.core.table"
    back = MTPModel.load(tmp_path / "s.mtp")
    a = _squeezed()
    p = back.predict([a])[0]
    ec, fc, sc = m.core.compute(a)
    e, f, w = back.kernel().efs_dataset(back.pack([a]))  # the (floored) MTP alone
    assert p["energy"] == pytest.approx(e[0] + ec.sum(), rel=1e-12)
    assert np.allclose(p["forces"], f + fc)
    assert np.allclose(p["stress"], 0.5 * (w[0] + w[0].T) / a.get_volume() + sc)
    a.calc = back.calculator()
    assert a.get_potential_energy() == pytest.approx(p["energy"], rel=1e-12)
    assert np.allclose(a.get_forces(), p["forces"])
    assert a.get_potential_energies().sum() == pytest.approx(p["energy"], rel=1e-12)
    # saving the model without its core removes the stale table
    m.core = None
    assert m.save(tmp_path / "s.mtp") == [tmp_path / "s.mtp"] and not core_path(tmp_path / "s.mtp").exists()
    assert MTPModel.load(tmp_path / "s.mtp").core is None


def test_core_of_other_elements_refused(tmp_path):
    m = random_model(8, ["Si", "Ge"], seed=1)
    m.save(tmp_path / "s.mtp")
    _core(("Si", "C")).write_table(core_path(tmp_path / "s.mtp"))
    with pytest.raises(ValueError, match="is for elements"):
        MTPModel.load(tmp_path / "s.mtp")


def test_fit_targets_are_the_labels_less_the_core():
    from ase.calculators.singlepoint import SinglePointCalculator

    m = random_model(8, ["Si", "Ge"], seed=1)
    a = _squeezed()
    forces = np.random.default_rng(0).normal(size=(len(a), 3))
    a.calc = SinglePointCalculator(a, energy=-10.0, forces=forces, stress=np.zeros(6))
    _, plain = prepare(m, [a])
    m.core = _core()
    _, less = prepare(m, [a])
    ec, fc, sc = m.core.compute(a)
    assert ec.sum() > 0.1
    assert less.energy[0] == pytest.approx(-10.0 - ec.sum())
    assert np.allclose(less.forces, plain.forces - fc) and np.allclose(less.stress[0], plain.stress[0] - sc)


# The floor: radial functions of a pair nearer than its r_out see a saturating distance instead of extrapolating.

def _floored_model(r_out=2.6):
    """A random Si/Ge MTP with every nearest-neighbour pair of a diamond cell (2.35 Å) below the floor."""
    m = random_model(10, ["Si", "Ge"], seed=2)
    m.core = _core(r_in=r_out - 0.5, r_out=r_out)
    return m


def test_floor_is_the_saturated_distance_for_a_dimer():
    plain, floored = random_model(10, ["Si", "Ge"], seed=2), _floored_model()
    c, w = 2.6, floored.core.floor_width
    for d in (2.7, 2.5, 2.0, 1.0):
        dimer = Atoms("SiGe", positions=[[0, 0, 0], [0, 0, d]])
        seen = d if d >= c else c - w * (1 - np.exp((d - c) / w))
        ref = Atoms("SiGe", positions=[[0, 0, 0], [0, 0, seen]])
        e_mtp = floored.kernel().efs_dataset(floored.pack([dimer]))[0][0]
        assert e_mtp == pytest.approx(plain.predict([ref])[0]["energy"], rel=1e-12, abs=1e-12)


def test_floored_forces_stress_and_fit_gradient_are_exact():
    from mtp_testlib import alloy as cell
    from mtp_testlib import check_loss_gradient
    from test_fit import labelled

    from unihub.finetune.mtp.fit import FitConfig, Objective

    m, a = _floored_model(), cell(seed=2)
    assert m.core.compute(a)[0].sum() > 0  # nearest neighbours are inside the floor and the core
    a.calc = m.calculator(skin=0.0)
    f, s = a.get_forces(), a.get_stress(voigt=False)
    h = 1e-5
    for i, k in [(0, 0), (3, 2), (5, 1)]:
        p, q = a.copy(), a.copy()
        p.positions[i, k] += h
        q.positions[i, k] -= h
        fd = -(m.predict([p])[0]["energy"] - m.predict([q])[0]["energy"]) / (2 * h)
        assert f[i, k] == pytest.approx(fd, rel=1e-6, abs=1e-7 * np.abs(f).max())
    eps = np.zeros((3, 3))
    eps[0, 1] = eps[1, 0] = 5e-7
    e = [m.predict([x])[0]["energy"] for x in (a.copy(), a.copy())]
    for sign, x in zip((1, -1), (a.copy(), a.copy())):
        x.set_cell(a.cell[:] @ (np.eye(3) + sign * eps), scale_atoms=True)
        e[(1 - sign) // 2] = m.predict([x])[0]["energy"]
    assert s[0, 1] == pytest.approx((e[0] - e[1]) / (2e-6 * a.get_volume()), rel=1e-5)
    # the fit's parameter gradient goes through the floor too
    ds, y = prepare(m, labelled(random_model(6, ["Si", "Ge"], seed=5), 2))
    check_loss_gradient(Objective(m, ds, y, FitConfig(stress_weight=1e-3)), np.random.default_rng(0), n=8)


def test_floor_changes_nothing_above_it():
    plain, floored = random_model(10, ["Si", "Ge"], seed=2), _floored_model(r_out=2.0)
    a = alloy(seed=3, rattle=0.05)  # every pair beyond 2.0 Å
    p, q = plain.predict([a])[0], floored.predict([a])[0]
    assert floored.core.compute(a)[0].sum() == 0.0
    assert p["energy"] == q["energy"] and np.array_equal(p["forces"], q["forces"])
