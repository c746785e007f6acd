"""Error metrics shared by the suites, and matbench-discovery's stability metrics.

``stable_metrics`` follows ``matbench_discovery.metrics.stable_metrics`` (v1.3.1) term for term, so a
report computes F1, DAF, precision, recall, MAE, RMSE and R² without importing that package (whose
import creates folders and pulls in plotting libraries); ``tests/eval`` checks that both agree.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from unihub.foundation.data.units import EV_A3_TO_GPA  # noqa: F401  (the suites take it from here)
from unihub.foundation.metrics import aligned_energy_residuals, array_errors, mae, rmse  # noqa: F401  (likewise)

STABILITY_THRESHOLD = 0.0  # eV/atom above the hull, matbench-discovery's default


def spread(values) -> float:
    """Sample standard deviation of the finite ``values`` (NaN with fewer than two): the scatter behind a mean."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.std(v, ddof=1)) if v.size > 1 else float("nan")


def mae_entry(key: str, pred, true) -> dict[str, float]:
    """``{key: MAE, key + "_spread": spread of the absolute errors}``, the form the report's headlines read."""
    d = np.abs(np.asarray(pred, float) - np.asarray(true, float))
    return {key: mae(pred, true), f"{key}_spread": spread(d)}


def r2(pred, true) -> float:
    p, t = np.asarray(pred, float), np.asarray(true, float)
    ok = np.isfinite(p) & np.isfinite(t)
    p, t = p[ok], t[ok]
    if t.size < 2:
        return float("nan")
    ss_tot = np.sum((t - t.mean()) ** 2)
    return float(1 - np.sum((t - p) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def force_mae_by_element(scored: Iterable[tuple[Any, dict]]) -> dict[str, float]:
    """Force MAE (meV/Å) per element symbol, by atomic number, over the (frame, prediction) pairs that both
    have forces: every force component on an atom of that element, pooled."""
    by_z: dict[int, list] = defaultdict(list)
    for f, p in scored:
        if f.forces is not None and "forces" in p:
            for z in np.unique(f.numbers):
                by_z[int(z)].append((p["forces"][f.numbers == z], f.forces[f.numbers == z]))
    out = {}
    for z, rows in sorted(by_z.items()):
        pred_z, ref_z = (np.concatenate(x) for x in zip(*rows))
        out[chemical_symbols[z]] = array_errors(forces=pred_z, forces_ref=ref_z).get("force_mae_meV_A", float("nan"))
    return out


def classify_stable(true: np.ndarray, pred: np.ndarray, threshold: float = STABILITY_THRESHOLD,
                    fillna: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (TP, FN, FP, TN) of stability predictions; NaN predictions count as unstable."""
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    actual_pos, actual_neg = true <= threshold, true > threshold
    model_pos, model_neg = pred <= threshold, pred > threshold
    if fillna:
        nan = np.isnan(pred)
        model_pos = model_pos & ~nan
        model_neg = model_neg | nan
    return actual_pos & model_pos, actual_pos & model_neg, actual_neg & model_pos, actual_neg & model_neg


def stable_metrics(each_true: Sequence[float], each_pred: Sequence[float], *,
                   stability_threshold: float = STABILITY_THRESHOLD, fillna: bool = True) -> dict[str, float]:
    """F1, DAF, Precision, Recall, Accuracy, TPR/FPR/TNR/FNR, TP/FP/TN/FN, MAE, RMSE, R2 (eV/atom).

    Inputs are energies above the convex hull (true = DFT, pred = model). Same definitions as
    matbench-discovery: Accuracy divides by the number of non-NaN pairs, regression metrics drop NaNs.
    """
    tp, fn, fp, tn = (int(m.sum()) for m in classify_stable(each_true, each_pred, stability_threshold, fillna))
    n_pos, n_neg = tp + fn, tn + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        prevalence = np.float64(n_pos) / (n_pos + n_neg)
        precision = np.float64(tp) / (tp + fp)
        recall = np.float64(tp) / n_pos
        f1 = 2 * precision * recall / (precision + recall)
        tpr, fpr, tnr, fnr = recall, np.float64(fp) / n_neg, np.float64(tn) / n_neg, np.float64(fn) / n_pos
    t, p = np.asarray(each_true, float), np.asarray(each_pred, float)
    ok = ~(np.isnan(t) | np.isnan(p))
    t, p = t[ok], p[ok]
    return {"F1": float(f1), "DAF": float(precision / prevalence), "Precision": float(precision),
            "Recall": float(recall), "Accuracy": float((tp + tn) / len(t)) if len(t) else float("nan"),
            "TPR": float(tpr), "FPR": float(fpr), "TNR": float(tnr), "FNR": float(fnr),
            "TP": tp, "FP": fp, "TN": tn, "FN": fn,
            "MAE": float(np.abs(t - p).mean()), "RMSE": float(np.sqrt(((t - p) ** 2).mean())), "R2": r2(p, t)}


def load_matbench_discovery_metrics():
    """matbench-discovery's own ``metrics`` module, loaded without running its package ``__init__``.

    The package ``__init__`` creates folders inside site-packages and imports plotly/pymatviz; its
    ``metrics.py`` needs only ``STABILITY_THRESHOLD`` from it, so a stand-in parent module provides that.
    Raises ``ImportError`` when the package is not installed.
    """
    spec = importlib.util.find_spec("matbench_discovery")  # locates, does not execute, the package
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("matbench-discovery is not installed (pip install --no-deps matbench-discovery==1.3.1)")
    path = f"{list(spec.submodule_search_locations)[0]}/metrics.py"
    saved = sys.modules.get("matbench_discovery")
    stub = types.ModuleType("matbench_discovery")
    stub.STABILITY_THRESHOLD = STABILITY_THRESHOLD
    sys.modules["matbench_discovery"] = stub
    try:
        mspec = importlib.util.spec_from_file_location("_mbd_metrics", path)
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("matbench_discovery", None)
        else:
            sys.modules["matbench_discovery"] = saved
    return module
