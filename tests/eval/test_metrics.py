"""Metrics and physics helpers of the OOD suites, checked on inputs with known answers."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from unihub.eval.metrics import aligned_energy_residuals, load_matbench_discovery_metrics, stable_metrics


def _hull_distances(seed: int, n: int = 400, nan: int = 7):
    rng = np.random.default_rng(seed)
    true = rng.normal(0.05, 0.1, n)
    pred = true + rng.normal(0, 0.05, n)
    pred[rng.choice(n, nan, replace=False)] = np.nan  # a model that failed: counted as unstable
    return true, pred


@pytest.fixture(scope="module")
def mbd_metrics():
    try:
        return load_matbench_discovery_metrics()
    except ImportError as err:
        pytest.skip(f"matbench-discovery not installed: {err}")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.0, 0.05])
def test_stable_metrics_match_matbench_discovery(mbd_metrics, seed, threshold):
    import pandas as pd

    true, pred = _hull_distances(seed)
    ours = stable_metrics(true, pred, stability_threshold=threshold)
    theirs = mbd_metrics.stable_metrics(pd.Series(true), pd.Series(pred), stability_threshold=threshold)
    assert set(theirs) <= set(ours)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(float(value), rel=1e-12, abs=1e-12), key


def test_stable_metrics_by_hand():
    # 2 TP, 1 FN, 1 FP, 2 TN (one TN from a NaN prediction)
    true = np.array([-0.1, -0.05, -0.02, 0.1, 0.2, 0.3])
    pred = np.array([-0.2, -0.01, 0.05, -0.03, 0.4, np.nan])
    m = stable_metrics(true, pred)
    assert (m["TP"], m["FN"], m["FP"], m["TN"]) == (2, 1, 1, 2)
    assert m["Precision"] == pytest.approx(2 / 3) and m["Recall"] == pytest.approx(2 / 3)
    assert m["F1"] == pytest.approx(2 / 3) and m["DAF"] == pytest.approx((2 / 3) / 0.5)
    assert m["MAE"] == pytest.approx(np.mean([0.1, 0.04, 0.07, 0.13, 0.2]))


def test_matbench_discovery_loads_without_side_effects(tmp_path, monkeypatch):
    """Its package __init__ creates folders and imports plotly; our loader must do neither."""
    import importlib.util

    spec = importlib.util.find_spec("matbench_discovery")
    if spec is None:
        pytest.skip("matbench-discovery not installed")
    copy = tmp_path / "ro" / "matbench_discovery"
    shutil.copytree(list(spec.submodule_search_locations)[0], copy,
                    ignore=shutil.ignore_patterns("__pycache__", "data", "site", "paper", "wandb"))
    before = sorted(p.name for p in copy.iterdir())
    copy.chmod(0o555)  # read-only install (root ignores the bits, hence the listing check below)
    monkeypatch.syspath_prepend(str(tmp_path / "ro"))
    for mod in [m for m in sys.modules if m.startswith("matbench_discovery")]:
        monkeypatch.delitem(sys.modules, mod)
    module = load_matbench_discovery_metrics()
    assert module.__file__.startswith(str(copy))
    assert sorted(p.name for p in copy.iterdir()) == before
    assert "matbench_discovery" not in sys.modules and "plotly" not in sys.modules
    copy.chmod(0o755)


def test_aligned_residuals_remove_per_element_offsets():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 6, size=(12, 2)).astype(float)
    true = counts @ np.array([-3.0, -5.0]) + rng.normal(0, 0.01, 12)
    pred = true + counts @ np.array([0.7, -1.2])  # a model with other elemental references, same PES
    res = aligned_energy_residuals(counts, pred, true)
    np.testing.assert_allclose(res, 0, atol=1e-10)
    assert aligned_energy_residuals(counts[:5], pred[:5], true[:5]) is None  # too few frames per offset


def test_birch_murnaghan_recovers_parameters():
    from unihub.foundation.eos import birch_murnaghan

    v0, b0, b1, e0 = 20.0, 0.6, 4.5, -3.0
    v = np.linspace(0.94, 1.06, 7) * v0
    eta = (v0 / v) ** (2 / 3)
    e = e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * b1 + (eta - 1) ** 2 * (6 - 4 * eta))
    fit = birch_murnaghan(v, e)
    assert fit["V0"] == pytest.approx(v0, rel=1e-9) and fit["B0"] == pytest.approx(b0, rel=1e-9)
    assert fit["B1"] == pytest.approx(b1, rel=1e-7) and fit["E0"] == pytest.approx(e0, rel=1e-9)
    with pytest.raises(ValueError, match="no energy minimum"):
        birch_murnaghan(v, -v)


def test_vrh_of_cubic_silicon():
    from unihub.eval.suites.elasticity import vrh

    c11, c12, c44 = 165.7, 63.9, 79.6
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    c[[0, 1, 2], [0, 1, 2]] = c11
    c[[3, 4, 5], [3, 4, 5]] = c44
    k, g = vrh(c)
    g_v = (c11 - c12 + 3 * c44) / 5
    g_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    assert k == pytest.approx((c11 + 2 * c12) / 3) and g == pytest.approx((g_v + g_r) / 2)


def test_elastic_tensor_of_a_harmonic_crystal():
    """Strain-stress slopes of an fcc EMT crystal give a symmetric, positive-definite cubic tensor."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from unihub.eval.models import EvalModel
    from unihub.eval.suites.elasticity import elastic_tensor

    atoms = bulk("Cu", "fcc", 3.59, cubic=True)
    m = EvalModel("emt", "peer", "test", _calcs={None: EMT()})
    c = elastic_tensor(m, atoms)
    assert np.allclose(c, c.T) and np.all(np.linalg.eigvalsh(c) > 0)
    assert c[0, 0] == pytest.approx(c[1, 1], rel=1e-3) and c[3, 3] == pytest.approx(c[5, 5], rel=1e-3)
    assert abs(c[0, 3]) < 1e-3 * c[0, 0]


def test_curve_metrics_of_a_morse_dimer():
    from unihub.eval.suites.diatomics import curve_metrics

    r = np.linspace(0.8, 6.0, 60)
    e = 2.0 * (1 - np.exp(-1.5 * (r - 2.0))) ** 2 - 2.0
    m = curve_metrics(r, e)
    # depth is measured from E(6 Å), which a Morse curve with a = 1.5/Å reaches to within 10 meV
    assert m["r_min"] == pytest.approx(2.0, abs=0.06) and m["depth"] == pytest.approx(e[-1] + 2.0, abs=0.01)
    assert m["repulsive"] and m["diff_flips"] == 1 and m["tortuosity"] == pytest.approx(1.0)
    wiggly = e + 0.3 * np.sin(8 * r)
    assert curve_metrics(r, wiggly)["diff_flips"] > 1


def test_pareto_front():
    from unihub.eval.plots import pareto_front

    pts = {"fast-bad": (1.0, 100.0), "slow-good": (100.0, 10.0), "dominated": (50.0, 120.0), "mid": (10.0, 30.0)}
    assert pareto_front(pts) == ["fast-bad", "mid", "slow-good"]


def test_phonon_heat_capacity_is_per_stored_cell():
    """EMT copper near Dulong-Petit at 300 K: 3R per atom, and four times that for the 4-atom cubic cell."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from unihub.eval.models import EvalModel
    from unihub.eval.suites.phonons import heat_capacity
    from unihub.foundation.data import Frame

    m = EvalModel("emt", "peer", "test", _calcs={None: EMT()})
    one = heat_capacity(m, Frame.from_atoms(bulk("Cu", "fcc", 3.59)))["cv_J_K_mol"]
    four = heat_capacity(m, Frame.from_atoms(bulk("Cu", "fcc", 3.59, cubic=True)))["cv_J_K_mol"]
    assert 0.9 * 3 * 8.314 < one < 3 * 8.314
    assert four == pytest.approx(4 * one, rel=0.02)
