"""Cross-check against motep, an independent reader/evaluator of MLIP .mtp files."""

import numpy as np
import pytest
from mtp_testlib import alloy, random_model

from unihub.finetune.mtp.model import MTPModel

motep_mtp = pytest.importorskip("motep.io.mlip.mtp", reason="motep is not installed (pip install motep)")
motep_calc = pytest.importorskip("motep.calculator", reason="motep is not installed (pip install motep)")


def motep_efs(path, atoms, species):
    data = motep_mtp.read_mtp(path)
    data.species = species
    a = atoms.copy()
    # a fresh calculator per structure: motep's cannot be reused across atom counts
    a.calc = motep_calc.MTP(data, engine="cext")
    return a.get_potential_energy(), a.get_forces(), a.get_stress(voigt=False)


def assert_close(ours, theirs):
    (e, f, s), (e2, f2, s2) = ours, theirs
    assert e == pytest.approx(e2, rel=1e-8)
    np.testing.assert_allclose(f, f2, rtol=0, atol=1e-8 * np.abs(f2).max())
    np.testing.assert_allclose(s, s2, rtol=0, atol=1e-8 * np.abs(s2).max())


def unihub_efs(model, atoms):
    (p,) = model.predict([atoms])
    return p["energy"], p["forces"], p["stress"]


@pytest.mark.parametrize("level", [8, 16])
def test_unihub_file_evaluates_identically_in_motep(tmp_path, level):
    model = random_model(level, ["Si", "Ge"], seed=level)
    model.save(tmp_path / "u.mtp")
    for seed, rep in [(0, 1), (1, 2)]:  # two cell sizes
        atoms = alloy(seed=seed, repeat=rep)
        assert_close(unihub_efs(MTPModel.load(tmp_path / "u.mtp"), atoms),
                     motep_efs(tmp_path / "u.mtp", atoms, [14, 32]))


@pytest.mark.parametrize("legacy", [True, False])
def test_motep_file_evaluates_identically_in_unihub(tmp_path, legacy):
    random_model(12, ["Si", "Ge"], seed=7).save(tmp_path / "u.mtp")
    data = motep_mtp.read_mtp(tmp_path / "u.mtp")
    rng = np.random.default_rng(3)
    data.radial_coeffs = data.radial_coeffs + rng.normal(scale=0.01, size=data.radial_coeffs.shape)
    data.moment_coeffs = rng.normal(scale=0.05, size=data.moment_coeffs.shape)
    data.species_coeffs = np.array([-3.0, -4.0])
    # legacy=True is the MLIP-2 layout; motep's default puts radial_funcs_count after the
    # radial_coeffs block, which motep's own reader rejects but ours accepts
    motep_mtp.write_mtp(tmp_path / "m.mtp", data, legacy=legacy)
    ours = MTPModel.load(tmp_path / "m.mtp", elements=["Si", "Ge"])
    # motep writes 16 significant digits, so the coefficients agree to the last bit or so
    np.testing.assert_allclose(ours.params.moment_coeffs, data.moment_coeffs, rtol=1e-15, atol=0)
    atoms = alloy(seed=9)
    if legacy:
        theirs = motep_efs(tmp_path / "m.mtp", atoms, [14, 32])
    else:
        motep_mtp.write_mtp(tmp_path / "m2.mtp", data, legacy=True)
        theirs = motep_efs(tmp_path / "m2.mtp", atoms, [14, 32])
    assert_close(unihub_efs(ours, atoms), theirs)
