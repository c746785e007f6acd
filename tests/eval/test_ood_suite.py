"""The ``ood`` suite (MatterSim's compound test sets) end to end on a few frames per file with a tiny model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_report import _data, tiny  # noqa: F401 - the shared data switch and tiny model of the eval tests

from unihub.eval.models import EvalModel, wrap_hub_model
from unihub.eval.suites import Context, suite_module
from unihub.eval.suites.ood import FILES, MP2020, RAW, RAW_FROM_MP2020, energy_target, ood_frames, ood_head

FEW = {"ood": {"frames": 3}}  # per file


def _run(*models):
    return suite_module("ood").run(Context(list(models), size="quick", cache={"options": FEW}))


def test_rows_for_every_file_and_the_head_used(tiny):  # noqa: F811
    res = _run(tiny)
    s = res.summary["tiny"]
    assert set(s["per_file"]) == set(FILES) == {r["file"] for r in res.records}
    for stem, key in FILES.items():
        d = s["per_file"][stem]
        assert d["frames"] == 3 and d["atoms"] > 0 and d["failed"] == 0
        for metric in ("energy_mae_meV_atom", "force_mae_meV_A", "stress_mae_GPa"):
            assert np.isfinite(s[f"{key}_{metric}"]) and s[f"{key}_{metric}"] == d[metric]
        assert "energy_raw_mae_meV_atom" not in d  # the pbe head is not on MPtrj's raw zero
    assert s["head"] == "pbe" and s["energy_target"] == "pbe head, own zero"
    assert all(np.isfinite(s[h.key]) for h in res.headlines)
    assert s["force_mae_by_element_meV_A"] and len(res.records) == 9
    assert [t for t, _ in res.figures][:3] == [f"Force parity, {stem}" for stem in FILES]
    assert all(png[:4] == b"\x89PNG" for _, png in res.figures)


def test_energy_mae_is_blind_to_a_constant_per_atom_shift(tiny):  # noqa: F811
    shifted = copy.deepcopy(tiny.model)
    with torch.no_grad():
        shifted.reference_energies += 0.37  # eV per atom, every element and head
    res = _run(tiny, wrap_hub_model(shifted, name="shifted"))
    a, b = res.summary["tiny"]["per_file"], res.summary["shifted"]["per_file"]
    for stem in FILES:
        assert b[stem]["energy_mae_meV_atom"] == pytest.approx(a[stem]["energy_mae_meV_atom"], rel=1e-6, abs=1e-6)
        assert b[stem]["energy_offset_meV_atom"] - a[stem]["energy_offset_meV_atom"] == pytest.approx(370, abs=1e-3)
        assert b[stem]["force_mae_meV_A"] == pytest.approx(a[stem]["force_mae_meV_A"], rel=1e-6)


def test_force_mae_is_the_mean_over_all_components(tiny):  # noqa: F811
    res = _run(tiny)
    for stem, frames in ood_frames(3).items():
        preds = tiny.model.predict([f.to_atoms() for f in frames], head="pbe")
        hand = 1000 * np.mean(np.concatenate([np.abs(p["forces"] - f.forces).ravel() for f, p in zip(frames, preds)]))
        assert res.summary["tiny"]["per_file"][stem]["force_mae_meV_A"] == pytest.approx(hand, rel=1e-6)


def test_mp2020_target_is_put_back_on_the_raw_scale(tiny):  # noqa: F811
    from unihub.foundation.mp2020 import mp2020_correction

    # tiny's own energies, served as if by a peer whose target is MP2020-corrected (CHGNet's spec)
    as_chgnet = EvalModel("as-chgnet", "peer", "toy", peer="chgnet", _calcs={None: tiny.model.calculator(head="pbe")})
    res = _run(tiny, as_chgnet)
    s = res.summary["as-chgnet"]
    assert s["energy_target"] == RAW_FROM_MP2020
    assert all("energy_raw_mae_meV_atom" in d for d in s["per_file"].values())
    mine = {r["id"]: r for r in res.records if r["model"] == "tiny"}
    frames = {f.group: f for fs in ood_frames(3).values() for f in fs}
    for r in (r for r in res.records if r["model"] == "as-chgnet"):
        assert r["mp2020_correction_eV"] == pytest.approx(mp2020_correction(frames[r["id"]].to_atoms()))
        assert r["e_pred_eV"] == pytest.approx(mine[r["id"]]["e_pred_eV"] - r["mp2020_correction_eV"], abs=1e-4)
    assert any(r["mp2020_correction_eV"] != 0 for r in res.records if r["model"] == "as-chgnet")


def test_heads_and_energy_targets(tiny):  # noqa: F811
    assert ood_head(tiny) == "pbe"
    assert ood_head(EvalModel("m", "universal", "r", heads=("pbe", "mptrj"))) == "mptrj"
    assert energy_target(EvalModel("m", "universal", "r", heads=("pbe", "mptrj")), "mptrj") == RAW
    assert energy_target(tiny, "pbe") == "pbe head, own zero"  # a head trained on other codes: its own zero
    sevennet, chgnet = (EvalModel(p, "peer", "r", peer=p) for p in ("sevennet-0", "chgnet"))
    assert ood_head(sevennet) is None
    assert energy_target(sevennet, None) == RAW and energy_target(chgnet, None) == MP2020


def test_missing_data_is_refused_with_the_fix(tmp_path, monkeypatch, tiny):  # noqa: F811
    from unihub.eval import ood_report
    from unihub.foundation.data.datadir import MissingDataError

    monkeypatch.setenv("UNIHUB_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("UNIHUB_OFFLINE", "1")
    with pytest.raises(MissingDataError, match="mattersim_ood.*UNIHUB_DATA"):
        _run(tiny)
    rep = ood_report([tiny], suites=["ood"], out=tmp_path / "report", progress=False)
    assert "UNIHUB_DATA" in rep["suite_errors"]["ood"] and "ood" not in rep["suites"]


def test_ood_rows_lead_the_summary_whatever_the_order_asked(tmp_path, tiny):  # noqa: F811
    from unihub.eval import ood_report
    from unihub.eval.report import summary_rows

    rep = ood_report([tiny], suites=["vacancies", "ood"], out=tmp_path, size="quick", progress=False,
                     options={"ood": {"frames": 1}})
    rows = summary_rows(rep)
    assert list(rep["suites"]) == ["ood", "vacancies"] and rows[0].suite == "ood"
    assert "| ood | MPtrj-1k E MAE (offset) meV/atom |" in (tmp_path / "report.md").read_text()
