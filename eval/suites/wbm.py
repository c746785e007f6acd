"""WBM formation energies (single points on the DFT-relaxed structures), and matbench-discovery metrics.

E_f = (E − Σ n_i μ_i) / N, each model by the protocol of its own energy target:

- ``raw`` (raw MP GGA/GGA+U totals: SevenNet-0, hub models' ``mptrj`` head): pymatgen's
  MaterialsProject2020Compatibility correction is applied to the prediction, μ are MP's elemental
  references, and E_f is compared with the file's MP2020-corrected formation energies, as
  matbench-discovery does;
- ``mp2020`` (CHGNet): the prediction is already corrected; same μ and target;
- a head with its own energy zero (universal-v1's pbe head): μ are the model's own lowest energies
  over MP's elemental polymorphs (matpes_element_refs), compared with the uncorrected E_f.

The discovery task (F1, DAF, precision, recall, MAE, RMSE, R² on hull distances) needs
matbench-discovery's WBM summary (card ``wbm_summary``), which ``wbm_random_1000`` lacks: given with
``options={"wbm": {"summary": FILE}}`` (``unihub report --wbm-summary FILE``), each structure's predicted
hull distance is the file's DFT hull distance plus the model's formation-energy error, scored by
matbench-discovery's own ``stable_metrics``.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from unihub.eval import plots
from unihub.eval.metrics import load_matbench_discovery_metrics, mae, r2, rmse, stable_metrics
from unihub.eval.models import EvalModel, attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, dataset_info, footer, pick
from unihub.foundation.data import load_dataset, load_mp_elemental_energies
from unihub.foundation.errors import InputError
from unihub.foundation.files import sha256_file
from unihub.foundation.mp2020 import mp2020_correction

NAME = "wbm"
TITLE = "WBM formation energies (DFT-relaxed structures)"
DATASETS = ("wbm_random_1000", "mp_elemental_refs", "matpes_element_refs")
# what a row measures: the WBM structures; the elemental references only set μ, and training on them is no
# sight of a WBM compound
WBM_ONLY = (DATASETS[0],)
SIZES = {"quick": 10, "default": 100, "full": None}  # structures
POLYMORPHS_PER_ELEMENT = {"quick": 1, "default": 3, "full": None}  # lowest-DFT-energy MP polymorphs for μ


def energies(predict: Callable, structures, on_error: Callable | None = None) -> np.ndarray:
    """Total energies (eV); NaN where the model failed (reported through ``on_error``)."""
    out = []
    for s in structures:
        a = attempt(predict, s)
        if a.error:
            (on_error or (lambda s, e: print(f"#   failed: {e}")))(s, a.error)
        out.append(np.nan if a.error else float(a.value))
    return np.array(out)


def model_mu(predict: Callable, polymorphs: dict) -> dict:
    """Lowest predicted energy per atom over each element's MP polymorphs."""
    out = {}
    for el, frames in polymorphs.items():
        e = energies(predict, frames) / np.array([len(f.numbers) for f in frames])
        out[el] = float(np.nanmin(e)) if np.isfinite(e).any() else np.nan
    return out


def formation(e_total: np.ndarray, frames, mu: dict) -> np.ndarray:
    """Formation energy per atom (eV/atom) from total energies and elemental references."""
    out = []
    for e, f in zip(e_total, frames):
        ref = sum(mu.get(chemical_symbols[z], np.nan) for z in f.numbers)
        out.append((e - ref) / len(f.numbers))
    return np.array(out)


def mp_polymorphs(elements: set[int], per_element: int | None = None) -> dict:
    """{symbol: [Frame]} of MP elemental polymorphs (lowest DFT energy per atom first)."""
    polymorphs = defaultdict(list)
    for f in load_dataset("matpes_element_refs"):
        el = f.group.split("/")[0]
        if "/mp-" in f.group and chemical_symbols.index(el) in elements:
            polymorphs[el].append(f)
    for el, frames in polymorphs.items():
        frames.sort(key=lambda f: f.energy / len(f))
        polymorphs[el] = frames[:per_element] if per_element else frames
    return dict(polymorphs)


SUMMARY_COLUMNS = ("material_id", "e_form_per_atom_mp2020_corrected", "e_above_hull_mp2020_corrected_ppd_mp")


def read_summary(path: str | Path) -> dict:
    """matbench-discovery's WBM summary (csv or csv.gz) as ``{"hull": {material_id: E_hull eV/atom}, "sha256",
    "path", "rows"}``; a file without the official columns is refused, naming what is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--wbm-summary {path}: no such file (matbench-discovery's 2023-12-13-wbm-summary.csv.gz, "
                         "see data_cards/wbm_summary.md for its URL)")
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    try:
        with opener(path, "rt", newline="") as fh:
            rows = csv.DictReader(fh)
            missing = [c for c in SUMMARY_COLUMNS if c not in (rows.fieldnames or [])]
            if missing:
                raise InputError(f"--wbm-summary {path}: lacks the column(s) {', '.join(missing)}; "
                                 f"matbench-discovery's WBM summary has {', '.join(SUMMARY_COLUMNS)}")
            hull = {r["material_id"]: _float(r[SUMMARY_COLUMNS[2]]) for r in rows}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"--wbm-summary {path}: not a readable CSV ({err})") from err
    if not hull:
        raise InputError(f"--wbm-summary {path}: no rows")
    return {"hull": hull, "sha256": sha256_file(path), "path": str(path), "rows": len(hull)}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def discovery_metrics(e_form_pred, e_form_dft, e_hull_dft) -> dict[str, float]:
    """matbench-discovery's stability metrics: predicted hull distance = DFT hull distance + E_f error.

    Uses matbench-discovery's own ``stable_metrics``; its equal, :func:`unihub.eval.metrics.stable_metrics`,
    where the package is absent or where theirs divides by zero (no structure predicted stable: precision
    and F1 are undefined, NaN here).
    """
    e_hull_dft = np.asarray(e_hull_dft, float)
    e_hull_pred = e_hull_dft + np.asarray(e_form_pred, float) - np.asarray(e_form_dft, float)
    try:
        import pandas as pd  # only with matbench-discovery's metrics, an optional package

        theirs = load_matbench_discovery_metrics().stable_metrics(pd.Series(e_hull_dft), pd.Series(e_hull_pred))
        return {k: float(v) for k, v in theirs.items()}
    except (ImportError, ZeroDivisionError):
        return stable_metrics(e_hull_dft, e_hull_pred)


def _discovery(res: SuiteResult, summary: dict, parity: dict, ids: dict) -> None:
    """F1, DAF, ... per model over the structures of the run that the summary holds."""
    res.headlines += [Headline("F1", "discovery F1", lower_is_better=False, n_key="discovery_n", datasets=WBM_ONLY),
                      Headline("DAF", "discovery DAF", lower_is_better=False, n_key="discovery_n", datasets=WBM_ONLY)]
    for name, (ref, pred) in parity.items():
        hull = np.array([summary["hull"].get(i, np.nan) for i in ids[name]])
        ok = np.isfinite(hull) & np.isfinite(ref)
        if not ok.any():
            continue
        m = discovery_metrics(pred[ok], ref[ok], hull[ok])
        res.summary[name].update({"F1": m["F1"], "DAF": m["DAF"], "precision": m["Precision"],
                                  "recall": m["Recall"], "hull_mae_meV_atom": 1000 * m["MAE"],
                                  "hull_rmse_meV_atom": 1000 * m["RMSE"], "hull_r2": m["R2"],
                                  "discovery_n": int(ok.sum())})
    res.notes.append(f"Discovery metrics from {summary['path']} (sha256 {summary['sha256']}, {summary['rows']} rows): "
                     "predicted hull distance = the file's e_above_hull_mp2020_corrected_ppd_mp + the model's E_f "
                     "error on its own target above, scored by matbench-discovery's stable_metrics over the "
                     "structures of this run the file holds (column discovery_n); a model failing a structure "
                     "counts as predicting it unstable.")


def run(ctx: Context) -> SuiteResult:
    wbm = pick(load_dataset("wbm_random_1000"), ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    per_el = POLYMORPHS_PER_ELEMENT[ctx.size]
    res = _result(wbm, datasets, per_el)
    summary = _hull_summary(ctx, res, datasets)
    polymorphs = mp_polymorphs({int(z) for f in wbm for z in f.numbers}, per_el)
    wbm = _with_polymorphs(res, wbm, polymorphs)
    mu_dft = load_mp_elemental_energies()
    raw_ref = np.array([f.info["formation_energy_per_atom"] for f in wbm])
    corrected_ref = np.array([f.info["corrected_formation_energy_per_atom"] for f in wbm])
    timer, parity, ids = Timer(res), {}, {}
    for m in ctx.models:
        ctx.log(f"wbm: {m.name}")
        frames = [f for f in wbm if m.covers(f.numbers)]
        if not frames:
            res.skipped[m.name] = "no structure within the model's elements"
            continue
        keep = np.array([m.covers(f.numbers) for f in wbm])
        scale = m.energy_scale("mptrj")
        with timer(m):
            e, errors, mu_model = _model_energies(ctx, m, scale, frames, polymorphs)
        if scale is None:
            protocol, r = "own zero: model μ vs uncorrected E_f", raw_ref[keep]
            ef = formation(e, frames, mu_model)
        else:
            if scale == "raw":
                e = e + np.array([_correction(f, errors) for f in frames])
            protocol = ("raw + MP2020 corrections" if scale == "raw" else "MP2020-corrected as predicted") + \
                " vs corrected E_f (matbench-discovery)"
            r, ef = corrected_ref[keep], formation(e, frames, mu_dft)
        _record(res, m, frames, ef, r, errors, mu_model)
        res.summary[m.name] = {"protocol": protocol, "n": int(np.isfinite(ef).sum()),
                               "mae_meV_atom": 1000 * mae(ef, r), "rmse_meV_atom": 1000 * rmse(ef, r),
                               "r2": r2(ef, r)}
        parity[m.name] = (r, ef)
        ids[m.name] = [f.group for f in frames]
    if summary is not None:
        _discovery(res, summary, parity, ids)
    if parity:
        res.figures.append(("WBM formation energy parity", plots.parity(
            parity, "DFT E_f (eV/atom)", "model E_f (eV/atom)", "WBM formation energies",
            footer(datasets, ctx.models))))
    return res


def _result(wbm: list, datasets: list[dict], per_el: int | None) -> SuiteResult:
    """The suite's result with its headlines and the note on each energy target's protocol."""
    res = SuiteResult(NAME, TITLE, datasets, len(wbm), [
        Headline("mae_meV_atom", "E_f MAE meV/atom", datasets=WBM_ONLY),
        Headline("r2", "E_f R²", lower_is_better=False, datasets=WBM_ONLY),
    ])
    res.notes.append(f"{len(wbm)} structures. Each model by its energy target (column 'protocol'): raw-energy "
                     "models get MP2020 corrections applied and corrected models are taken as predicted, both with "
                     "MP's elemental references against the MP2020-corrected E_f (matbench-discovery's protocol); "
                     f"a head with its own zero uses its own lowest energy over the {per_el or 'all'} lowest-DFT "
                     "MP polymorphs per element as μ, against the uncorrected E_f.")
    return res


def _hull_summary(ctx: Context, res: SuiteResult, datasets: list[dict]) -> dict | None:
    """matbench-discovery's WBM summary when one was given (then added to ``datasets``), else None with a note
    on how to get the discovery metrics."""
    summary = ctx.cache.get("wbm_summary")
    opts = ctx.cache.get("options", {}).get(NAME, {})
    if summary is None and opts.get("summary"):
        summary = read_summary(opts["summary"])
    if summary is None:
        res.notes.append("Discovery metrics (F1/DAF on hull distances) not computed: they need matbench-discovery's "
                         "WBM summary (card wbm_summary); pass it with --wbm-summary FILE.")
    else:
        datasets.append({**dataset_info("wbm_summary"), "file_sha256": summary["sha256"]})
    return summary


def _with_polymorphs(res: SuiteResult, wbm: list, polymorphs: dict) -> list:
    """The structures whose every element has an MP polymorph (a note and the suite's size say what was dropped)."""
    # without an MP polymorph there is no model-consistent μ: a gap in the data, not a model failure
    lacking = sorted({chemical_symbols[z] for f in wbm for z in f.numbers} - set(polymorphs))
    if lacking:
        wbm = [f for f in wbm if not {chemical_symbols[z] for z in f.numbers} & set(lacking)]
        res.notes.append(f"Dropped structures containing {', '.join(lacking)}: no MP elemental polymorph in "
                         f"matpes_element_refs; {len(wbm)} structures remain.")
        res.size = len(wbm)
    return wbm


def _model_energies(ctx: Context, m: EvalModel, scale: str | None, frames: list,
                    polymorphs: dict) -> tuple[np.ndarray, dict, dict | None]:
    """The model's total energies on ``frames`` (NaN where it failed), its errors by ``id(frame)``, and for a
    head with its own zero (``scale`` None) its μ over the polymorphs of the elements it covers (else None)."""
    head = "mptrj" if scale == "raw" and m.peer is None else "pbe"

    def predict(f):
        return m.single_point(f.to_atoms(), head, forces=False, stress=False)["energy"]

    errors: dict = {}
    e = energies(predict, ctx.track(frames, f"wbm {m.name}"), on_error=lambda f, err: errors.__setitem__(id(f), err))
    mu_model = None
    if scale is None:
        mine = {el: fs for el, fs in polymorphs.items() if m.covers([fs[0].numbers[0]])}
        mu_model = model_mu(predict, mine)
    return e, errors, mu_model


def _record(res: SuiteResult, m: EvalModel, frames: list, ef: np.ndarray, r: np.ndarray, errors: dict,
            mu_model: dict | None) -> None:
    """One row per structure; a NaN E_f from a missing model μ is recorded with the elements it lacks."""
    for f, em, rr in zip(frames, ef, r):
        err = errors.get(id(f))
        if err is None and not np.isfinite(em) and mu_model is not None:
            symbols = {chemical_symbols[z] for z in f.numbers}
            missing = sorted(s for s in symbols if not np.isfinite(mu_model.get(s, np.nan)))
            err = f"the model failed on every MP polymorph of {', '.join(missing)}"
        res.record(m, f.group, err, formula=f.info.get("formula"), e_form_dft_eV_atom=rr, e_form_pred_eV_atom=em)


def _correction(frame, errors: dict) -> float:
    """pymatgen's MP2020 correction of a raw-energy prediction (eV); NaN, with the reason, where it refuses."""
    try:
        return mp2020_correction(frame.to_atoms())
    except ValueError as err:
        errors.setdefault(id(frame), str(err))
        return float("nan")
