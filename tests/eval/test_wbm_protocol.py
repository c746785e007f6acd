"""WBM by each model's own target: raw-energy models get MP2020 corrections, corrected ones are taken as is."""

from __future__ import annotations

import numpy as np
import pytest
from test_report import _data  # noqa: F401 - the shared data switch of the eval tests

from unihub.eval.models import EvalModel
from unihub.eval.suites import Context, suite_module


class DFTEcho(EvalModel):
    """A 'model' that returns the WBM file's own DFT energy (raw or MP2020-corrected) of a structure."""

    def single_point(self, atoms, fidelity="pbe", forces=True, stress=True):
        return {"energy": self.info["table"][_key(atoms)]}


def _key(atoms) -> tuple:
    return tuple(np.round(atoms.positions, 4).ravel()[:12])


@pytest.mark.filterwarnings("ignore:Failed to guess oxidation states:UserWarning")
def test_file_energies_reproduce_the_corrected_formation_energies(tmp_path, monkeypatch):
    from unihub.foundation.data import load_dataset

    frames = load_dataset("wbm_random_1000")
    raw = {_key(f.to_atoms()): f.energy for f in frames}
    corrected = {_key(f.to_atoms()): f.info["corrected_energy"] for f in frames}
    models = [DFTEcho("raw-echo", "peer", "r", peer="sevennet-0", info={"table": raw}),
              DFTEcho("corrected-echo", "peer", "r", peer="chgnet", info={"table": corrected})]
    ctx = Context(models=models, size="default", out=tmp_path, seed=0, cache={}, progress=False)
    res = suite_module("wbm").run(ctx)
    raw_row, corr_row = res.summary["raw-echo"], res.summary["corrected-echo"]
    assert raw_row["protocol"].startswith("raw + MP2020 corrections")
    assert corr_row["protocol"].startswith("MP2020-corrected as predicted")
    # MP's own energies through the protocol give MP's formation energies back: what is left is the
    # elemental-reference revision, and for raw energies the corrections pymatgen recomputes here
    assert corr_row["mae_meV_atom"] < 5 and raw_row["mae_meV_atom"] < 5, (raw_row, corr_row)
    assert raw_row["n"] == corr_row["n"] > 50


def _summary_file(path, ids, hull, columns=None):
    """A WBM summary in matbench-discovery's column layout, gzipped as the official file is."""
    import csv
    import gzip

    columns = columns or ["material_id", "formula", "e_form_per_atom_mp2020_corrected",
                          "e_above_hull_mp2020_corrected_ppd_mp"]
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for i, h in zip(ids, hull):
            w.writerow({"material_id": i, "formula": "X", "e_form_per_atom_mp2020_corrected": -1.0,
                        "e_above_hull_mp2020_corrected_ppd_mp": h}.get(c, "") for c in columns)
    return path


@pytest.mark.filterwarnings("ignore:Failed to guess oxidation states:UserWarning")
def test_wbm_summary_gives_discovery_metrics(tmp_path):
    """A model with the DFT energies finds exactly the stable structures; one 0.3 eV/atom too high finds none."""
    from unihub.eval import ood_report
    from unihub.eval.metrics import stable_metrics
    from unihub.eval.suites import pick
    from unihub.foundation.data import load_dataset

    frames = load_dataset("wbm_random_1000")
    corrected = {_key(f.to_atoms()): f.info["corrected_energy"] for f in frames}
    high = {k: v + 0.3 * len(f) for (k, v), f in zip(corrected.items(), frames)}
    chosen = pick(frames, 10, 0)  # the quick subset
    hull = [-0.05 if k % 2 else 0.1 for k in range(len(chosen))]
    path = _summary_file(tmp_path / "wbm-summary.csv.gz", [f.group for f in chosen], hull)
    models = [DFTEcho("echo", "peer", "r", peer="chgnet", info={"table": corrected}),
              DFTEcho("high", "peer", "r", peer="chgnet", info={"table": high})]
    rep = ood_report(models, suites=["wbm"], out=tmp_path / "r", size="quick", progress=False,
                     options={"wbm": {"summary": str(path)}})
    s = rep["suites"]["wbm"]
    echo, bad = s["summary"]["echo"], s["summary"]["high"]
    # structures whose elements lack an MP polymorph are dropped by the suite; the rest are all scored
    assert echo["discovery_n"] == bad["discovery_n"] == echo["n"] >= 5
    assert echo["F1"] == echo["precision"] == echo["recall"] == 1.0 and echo["DAF"] > 1
    assert echo["hull_mae_meV_atom"] < 5
    assert bad["recall"] == 0.0 and bad["hull_mae_meV_atom"] == pytest.approx(300, abs=5)
    assert {h["key"] for h in s["headlines"]} >= {"F1", "DAF"}
    assert any(d["name"] == "wbm_summary" and len(d["file_sha256"]) == 64 for d in s["datasets"])
    # matbench-discovery's own function and the project's equal agree on these numbers
    e_hull_pred = np.array(hull) + 0.3
    assert stable_metrics(np.array(hull), e_hull_pred)["Recall"] == bad["recall"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| wbm | discovery F1 |" in md and f"n={echo['n']}" in md


def test_bad_wbm_summary_is_refused_before_any_model_loads(tmp_path):
    from unihub.eval import ood_report
    from unihub.foundation.errors import InputError

    path = _summary_file(tmp_path / "s.csv.gz", ["wbm-1-1"], [0.0], columns=["material_id", "e_above_hull_wbm"])
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match="lacks the column.*e_above_hull_mp2020_corrected_ppd_mp"):
        ood_report(["no-such-model"], suites=["wbm"], out=tmp_path / "r", options={"wbm": {"summary": str(path)}})
    with pytest.raises(InputError, match="no such file"):
        ood_report(["no-such-model"], suites=["wbm"], out=tmp_path / "r",
                   options={"wbm": {"summary": str(tmp_path / "absent.csv")}})
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no report folder was started
