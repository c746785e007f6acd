"""Homonuclear dimer curves (PBE): smoothness, short-range repulsion, minimum position and well depth vs DFT.

Energies are taken relative to the largest separation (≈ 6 Å, the dissociation limit) for DFT and model alike.
Per curve: ``r_min`` error (Å, grid minimum), well depth error (eV), ``repulsive`` (energy rises
monotonically from the minimum to the shortest separation, ≈ 0.8 covalent radii), ``diff_flips`` (sign
changes of dE/dr; a physical curve has 1) and ``tortuosity`` (Σ|ΔE| over the drop the curve must make;
1 for a curve with a single minimum), the last two as in matbench-discovery's diatomics analysis.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from unihub.eval import plots
from unihub.eval.metrics import mae_entry, spread
from unihub.eval.models import attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, column, dataset_info, footer, pick
from unihub.foundation.data import load_dataset

NAME = "diatomics"
TITLE = "Homonuclear diatomics (PBE curves)"
DATASETS = ("diatomics",)
SIZES = {"quick": 3, "default": 20, "full": None}  # curves
TOL = 1e-3  # eV: energy steps smaller than this do not count as wiggles


def curve_metrics(r: np.ndarray, e: np.ndarray) -> dict:
    """Shape descriptors of one E(r) curve (energies relative to the largest separation)."""
    e = e - e[np.argmax(r)]
    order = np.argsort(r)
    r, e = r[order], e[order]
    i = int(np.argmin(e))
    d = np.diff(e)
    d = d[np.abs(d) > TOL]
    flips = int(np.sum(np.diff(np.sign(d)) != 0)) if d.size else 0
    drop = (e[0] - e[i]) + (e[-1] - e[i])
    return {"r_min": float(r[i]), "depth": float(-e[i]), "diff_flips": flips,
            "tortuosity": float(np.sum(np.abs(np.diff(e))) / drop) if drop > 0 else float("nan"),
            "repulsive": bool(i > 0 and np.all(np.diff(e[: i + 1]) <= TOL) and e[0] > 0)}


def dft_curves() -> dict[str, tuple[np.ndarray, np.ndarray, list]]:
    """{'X-X': (distances, DFT energies, frames)} for the PBE curves."""
    points = defaultdict(list)
    for f in load_dataset("diatomics"):
        if f.fidelity == "pbe":
            points[f.group.split("/", 1)[1]].append(f)
    out = {}
    for name, fs in sorted(points.items()):
        fs.sort(key=lambda f: f.info["distance"])
        out[name] = (np.array([f.info["distance"] for f in fs]), np.array([f.energy for f in fs]), fs)
    return out


def run(ctx: Context) -> SuiteResult:
    all_curves = dft_curves()
    names = pick(sorted(all_curves), ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(names), [
        Headline("r_min_mae_A", "r_min MAE Å"), Headline("depth_mae_eV", "depth MAE eV"),
        Headline("repulsive_fraction", "repulsive fraction", lower_is_better=False),
        Headline("mean_diff_flips", "dE/dr sign flips (1 ideal)")])
    res.notes.append(f"{len(names)} PBE curves, ≈ 50 separations each from 0.8 r_cov to 6 Å.")
    timer = Timer(res)
    model_curves: dict = defaultdict(dict)
    for m in ctx.models:
        ctx.log(f"diatomics: {m.name}")
        rows = []
        with timer(m):
            for name in ctx.track(names, f"diatomics {m.name}"):
                r, e_dft, frames = all_curves[name]
                if not m.covers(frames[0].numbers):
                    continue

                def curve(frames=frames, m=m):
                    return np.array([m.single_point(f.to_atoms(), "pbe", forces=False, stress=False)["energy"]
                                     for f in frames])

                a = attempt(curve)
                ref = curve_metrics(r, e_dft)
                row = {"dft_r_min_A": ref["r_min"], "dft_depth_eV": ref["depth"]}
                if a.ok:
                    got = curve_metrics(r, a.value)
                    row |= {"r_min_A": got["r_min"], "depth_eV": got["depth"], "repulsive": got["repulsive"],
                            "diff_flips": got["diff_flips"], "tortuosity": got["tortuosity"]}
                    model_curves[name][m.name] = (r, a.value - a.value[np.argmax(r)])
                rows.append(res.record(m, name, a.error, **row))
        if not rows:
            res.skipped[m.name] = "no dimer within the model's elements"
            continue
        ok = [x for x in rows if x["error"] is None]
        res.summary[m.name] = {"n": len(ok),
                               **mae_entry("r_min_mae_A", column(ok, "r_min_A"), column(ok, "dft_r_min_A")),
                               **mae_entry("depth_mae_eV", column(ok, "depth_eV"), column(ok, "dft_depth_eV")),
                               "repulsive_fraction": float(column(ok, "repulsive").mean()) if ok else float("nan"),
                               "repulsive_fraction_spread": spread(column(ok, "repulsive")),
                               "mean_diff_flips": float(column(ok, "diff_flips").mean()) if ok else float("nan"),
                               "mean_diff_flips_spread": spread(column(ok, "diff_flips")),
                               "mean_tortuosity": float(np.nanmean(column(ok, "tortuosity"))) if ok else float("nan")}
    for name in [n for n in names if n in model_curves][:3]:  # a few curves, shown whole
        r, e_dft, _ = all_curves[name]
        series = {"DFT": (r, e_dft - e_dft[np.argmax(r)]), **model_curves[name]}
        depth = max(1.0, -float(np.min(series["DFT"][1])))
        res.figures.append((f"Dimer curve {name}", plots.curves(
            series, "distance (Å)", "E − E(6 Å) (eV)", f"{name} (PBE)", footer(datasets, ctx.models),
            ylim=(-2 * depth, 3 * depth))))
    return res
