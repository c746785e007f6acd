"""The potential obeys the physics any interatomic potential must."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation


def energy(model, atoms):
    atoms = atoms.copy()
    atoms.calc = model.calculator()
    return atoms.get_potential_energy()


def test_forces_match_finite_differences(model64, triclinic):
    calc = model64.calculator()
    atoms = triclinic.copy()
    atoms.calc = calc
    f = atoms.get_forces()
    h = 1e-5
    for i in range(len(atoms)):
        for k in range(3):
            p = atoms.positions.copy()
            p[i, k] += h
            ep = energy(model64, Atoms(atoms.numbers, p, cell=atoms.cell, pbc=True))
            p[i, k] -= 2 * h
            em = energy(model64, Atoms(atoms.numbers, p, cell=atoms.cell, pbc=True))
            assert f[i, k] == pytest.approx(-(ep - em) / (2 * h), abs=1e-6, rel=1e-6)
    assert np.abs(f).max() > 1e-3  # the test would be empty on a force-free structure


def test_stress_matches_finite_strain(model64, triclinic):
    atoms = triclinic.copy()
    atoms.calc = model64.calculator()
    s = atoms.get_stress(voigt=False)
    v = atoms.get_volume()
    h = 1e-5
    for a in range(3):
        for b in range(3):
            de = []
            for sign in (1, -1):
                eps = np.zeros((3, 3))
                eps[a, b] = eps[b, a] = sign * h / (2 if a != b else 1)
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                de.append(energy(model64, strained))
            # for a≠b a symmetric strain ε_ab = ε_ba = h/2 gives dE = V(σ_ab + σ_ba) h/2
            num = (de[0] - de[1]) / (2 * h) / v
            assert s[a, b] == pytest.approx(num, abs=1e-7, rel=1e-5)
    assert np.abs(s).max() > 1e-4


def test_rotation_translation_permutation(model64, triclinic):
    atoms = triclinic.copy()
    atoms.calc = model64.calculator()
    e0, f0, s0 = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    r = atoms.copy()
    r.set_cell(atoms.cell.array @ rot.T, scale_atoms=True)
    r.calc = model64.calculator()
    assert r.get_potential_energy() == pytest.approx(e0, rel=1e-10)
    np.testing.assert_allclose(r.get_forces(), f0 @ rot.T, atol=1e-9)
    np.testing.assert_allclose(r.get_stress(voigt=False), rot @ s0 @ rot.T, atol=1e-10)
    t = atoms.copy()
    t.positions += [1.3, -7.2, 0.4]
    t.calc = model64.calculator()
    assert t.get_potential_energy() == pytest.approx(e0, rel=1e-10)
    perm = np.random.default_rng(0).permutation(len(atoms))
    p = atoms[perm]
    p.calc = model64.calculator()
    assert p.get_potential_energy() == pytest.approx(e0, rel=1e-10)
    np.testing.assert_allclose(p.get_forces(), f0[perm], atol=1e-10)


def test_supercell_is_extensive(model64, triclinic):
    e1 = energy(model64, triclinic)
    sc = triclinic.repeat((2, 2, 2))
    sc.calc = model64.calculator()
    assert sc.get_potential_energy() == pytest.approx(8 * e1, rel=1e-10)
    triclinic.calc = model64.calculator()
    np.testing.assert_allclose(sc.get_forces()[: len(triclinic)], triclinic.get_forces(), atol=1e-10)
    np.testing.assert_allclose(sc.get_stress(), triclinic.get_stress(), atol=1e-10)


def test_energy_and_force_continuous_at_cutoff(model64):
    rc = model64.config.cutoff

    def dimer(r):
        a = Atoms("SiGe", positions=[[0, 0, 0], [r, 0, 0]], pbc=False)
        a.calc = model64.calculator()
        return a.get_potential_energy(), a.get_forces()[0, 0]

    e_in, f_in = dimer(rc - 1e-6)
    e_out, f_out = dimer(rc + 1e-6)
    assert e_in == pytest.approx(e_out, abs=1e-9)
    assert f_in == pytest.approx(f_out, abs=1e-7)
    assert f_out == 0.0
    # well inside the cutoff the pair does interact
    e_mid, f_mid = dimer(0.6 * rc)
    assert abs(e_mid - e_out) > 1e-4 and abs(f_mid) > 1e-4


def test_short_range_repulsion_keeps_atoms_apart(model64):
    es = []
    for r in (0.3, 0.5, 0.8):
        a = Atoms("CC", positions=[[0, 0, 0], [r, 0, 0]])
        a.calc = model64.calculator()
        es.append(a.get_potential_energy())
        assert a.get_forces()[0, 0] < 0  # atom 0 is pushed away from atom 1
    assert es[0] > es[1] > es[2]
    assert es[0] - es[2] > 50.0  # ZBL at 0.3 Å between carbons is hundreds of eV


def test_batched_predict_equals_single(model64, triclinic):
    water = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    structs = [triclinic, bulk("Cu", "fcc", 3.6) * (2, 1, 1), water]
    batch = model64.predict(structs, max_atoms=12)
    for atoms, res in zip(structs, batch):
        a = atoms.copy()
        a.calc = model64.calculator()
        assert res["energy"] == pytest.approx(a.get_potential_energy(), rel=1e-10)
        np.testing.assert_allclose(res["forces"], a.get_forces(), atol=1e-10)
        assert ("stress" in res) == bool(a.pbc.all())


def test_float32_default_agrees_with_float64(model64, triclinic):
    import copy

    m32 = copy.deepcopy(model64).float()
    assert energy(m32, triclinic) == pytest.approx(energy(model64, triclinic), rel=1e-5)


def test_pymatgen_structure_accepted(model64, triclinic):
    from pymatgen.io.ase import AseAtomsAdaptor

    struct = AseAtomsAdaptor.get_structure(triclinic)
    calc = model64.calculator()
    assert calc.get_potential_energy(struct) == pytest.approx(energy(model64, triclinic), rel=1e-10)
    assert model64.predict([struct])[0]["forces"].shape == (len(triclinic), 3)


def _cusp_ratio(model, d=1e-3):
    """Force on one diamond-Si atom displaced by d and 2d: a smooth (harmonic) potential has F(2d) = 2 F(d)
    to O(d^2); a cusp adds a constant, so |2 F(d) - F(2d)| / |F(d)| measures it."""
    si = bulk("Si", "diamond", 5.43, cubic=True)

    def force(x):
        a = si.copy()
        a.positions[0, 0] += x
        a.calc = model.calculator()
        return a.get_forces()[0, 0]

    assert abs(force(0.0)) < 1e-9  # zero by symmetry at the site
    f1, f2 = force(d), force(2 * d)
    assert abs(f1) > 1e-6
    return abs(2 * f1 - f2) / abs(f1)


def test_smooth_at_high_symmetry_sites(model64):
    """Vector features vanish by symmetry at high-symmetry sites; the potential must stay harmonic there
    (a cusp makes phonons and MD needlessly stiff)."""
    assert _cusp_ratio(model64) < 1e-3


def test_smoothness_check_detects_the_legacy_cusp():
    """The same check finds the cusp of the old near-zero smoothing constant (same seed, same shapes)."""
    import torch

    from unihub.foundation.model.config import LEGACY_VECTOR_NORM_EPS, ModelConfig
    from unihub.foundation.model.potential import UniversalPotential

    torch.manual_seed(0)
    cfg = ModelConfig(features=16, vector_features=8, layers=2, cutoff=4.0, vector_norm_eps=LEGACY_VECTOR_NORM_EPS)
    assert _cusp_ratio(UniversalPotential(cfg).double().eval()) > 0.1


def test_models_saved_without_the_smoothing_field_load_as_legacy():
    from unihub.foundation.model.config import LEGACY_VECTOR_NORM_EPS, ModelConfig

    old = ModelConfig().to_dict()
    del old["vector_norm_eps"]
    assert ModelConfig.from_dict(old).vector_norm_eps == LEGACY_VECTOR_NORM_EPS
    assert ModelConfig.from_dict(ModelConfig().to_dict()).vector_norm_eps == ModelConfig().vector_norm_eps


def test_inner_switch_leaves_only_the_prior_at_short_range():
    """Below lo·(R_i+R_j) the learned part of a dimer's energy is constant: only ZBL moves it."""
    from ase.data import covalent_radii

    from unihub.foundation.model.config import ModelConfig
    from unihub.foundation.model.potential import UniversalPotential

    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    cfg = dict(features=16, vector_features=8, layers=2, cutoff=4.0, inner_switch=(0.3, 0.5))
    learned = UniversalPotential(ModelConfig(**cfg, zbl=False)).double().eval()
    with torch.no_grad():
        learned.energy_scale.fill_(5.0)  # large learned energies: the switch, not a small scale, must do the work
    full = UniversalPotential(ModelConfig(**cfg)).double().eval()
    full.load_state_dict(learned.state_dict(), strict=False)
    def energies(model, pair, distances):
        dimers = [Atoms(pair, positions=[[0, 0, 0], [r, 0, 0]]) for r in distances]
        return np.array([p["energy"] for p in model.predict(dimers, forces=False, stress=False)])

    for pair in ("SiSi", "HO", "CsF", "UO"):
        rsum = covalent_radii[Atoms(pair).numbers].sum()
        inside = np.linspace(0.12, 0.3 * rsum - 1e-3, 12)
        assert np.ptp(energies(learned, pair, inside)) < 1e-9, pair
        assert (np.diff(energies(full, pair, inside)) < 0).all(), pair  # rises as the pair is pushed together
        between = np.linspace(0.3 * rsum, 0.5 * rsum, 7)[1:-1]  # the switch really switches between lo and hi
        assert np.ptp(energies(learned, pair, between)) > 1e-6, pair
    with pytest.raises(ValueError, match="0 < lo < hi"):
        ModelConfig.from_dict({**cfg, "inner_switch": [0.5, 0.3]})
