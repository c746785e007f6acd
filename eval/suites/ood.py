"""Out-of-distribution compounds: MatterSim's three test sets (MPtrj, Alexandria, MPF-alkali-TP), file by file.

Single points on the DFT frames of ``mattersim_ood``. Per model and per file: energy MAE per atom after a
constant per-atom offset (the median of (pred − DFT)/atom over the file's frames: a model's zero and each
file's DFT zero need not agree), the raw MAE for models whose target is raw MPtrj energies, force MAE over
all components, stress MAE over all nine, and force MAE per element.

Hub models are judged on their ``mptrj`` head when they have one, else on their default head; peers on their
own target. CHGNet predicts MP2020-corrected energies: the suite takes pymatgen's
MaterialsProject2020Compatibility correction off them (``mp2020_correction``, MP's U values assumed) to
compare raw energies; without that, no per-file offset could absorb corrections that differ per
composition. Forces and stress are the same on both scales.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from unihub.eval import plots
from unihub.eval.metrics import force_mae_by_element
from unihub.eval.models import EvalModel, attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, dataset_info, footer, pick
from unihub.foundation.data import iter_dataset
from unihub.foundation.metrics import frame_errors
from unihub.foundation.mp2020 import mp2020_correction

NAME = "ood"
TITLE = "Out-of-distribution compounds (MatterSim test sets)"
DATASETS = ("mattersim_ood",)
SIZES = {"quick": 20, "default": 200, "full": None}  # frames per file
FILES = {"mptrj-random-1k": "mptrj", "alexandria-random-1k": "alexandria", "mpf-alkali-TP": "mpf_alkali_tp"}
LABELS = {"mptrj-random-1k": "MPtrj-1k", "alexandria-random-1k": "Alexandria-1k", "mpf-alkali-TP": "MPF-alkali-TP"}
RAW = "raw MPtrj"
MP2020 = "MP2020-corrected target"
RAW_FROM_MP2020 = "raw MPtrj (MP2020 correction removed)"


def ood_frames(n: int | None, seed: int = 0) -> dict[str, list]:
    """{file stem: [Frame]}: the same fixed subset of at most ``n`` frames of each file, every run."""
    by_file: dict[str, list] = {stem: [] for stem in FILES}
    for f in iter_dataset(DATASETS[0]):
        stem = f.group.rsplit("/", 1)[0]  # the card groups by index: "<file stem>/<frame index>"
        if stem not in by_file:
            raise ValueError(f"{DATASETS[0]}: frame group {f.group!r} names no known file ({', '.join(FILES)}); "
                             "the card must keep 'group_by: index'")
        by_file[stem].append(f)
    return {stem: pick(frames, n, seed) for stem, frames in by_file.items()}


def ood_head(model: EvalModel) -> str | None:
    """The head ``model`` is judged on: ``mptrj`` if it has one, else its default; None for one-head models."""
    if "mptrj" in model.heads:
        return "mptrj"
    if model.heads and model.model is not None:
        return model.model.config.default_fidelity
    return None


def energy_target(model: EvalModel, head: str | None) -> str:
    """What the model's energies are: ``RAW`` (comparable to the files without offset), ``MP2020`` or its own zero."""
    scale = model.energy_scale(head)
    if scale is not None:
        return {"raw": RAW, "mp2020": MP2020}[scale]
    return f"{head} head, own zero" if head else "own zero"


def score_file(frames, preds, raw: bool = False) -> dict:
    """Errors of one model on one file's frames; ``preds`` holds None where the model failed.

    Energies (meV/atom) after the offset = median of (pred − DFT)/atom; ``raw`` adds the MAE without it.
    """
    ok = [(f, p) for f, p in zip(frames, preds) if p is not None]
    out: dict = {"frames": len(ok), "atoms": sum(len(f) for f, _ in ok), "failed": len(frames) - len(ok)}
    fe = [(f, p) for f, p in ok if f.energy is not None and np.isfinite(p["energy"])]
    out["energy_frames"] = len(fe)  # fewer than frames where a model's energy could not be put on the raw scale
    if fe:
        r = np.array([(p["energy"] - f.energy) / len(f) for f, p in fe]) * 1000
        offset = float(np.median(r))
        out["energy_offset_meV_atom"] = offset
        out["energy_mae_meV_atom"] = float(np.mean(np.abs(r - offset)))
        out["energy_rmse_meV_atom"] = float(np.sqrt(np.mean((r - offset) ** 2)))
        if raw:
            out["energy_raw_mae_meV_atom"] = float(np.mean(np.abs(r)))
    out["force_frames"] = sum(f.forces is not None and "forces" in p for f, p in ok)
    out["stress_frames"] = sum(f.stress is not None and p.get("stress") is not None for f, p in ok)
    if ok:  # forces and stress by the shared definition; energies by this suite's offset above
        err = frame_errors(*zip(*ok))
        out.update({k: v for k, v in err.items() if k.startswith(("force_", "stress_"))})
    return out


def run(ctx: Context) -> SuiteResult:
    opts = ctx.cache.get("options", {}).get(NAME, {})
    data = ood_frames(opts.get("frames", ctx.n(SIZES)), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = _result(ctx, data, datasets)
    timer = Timer(res)
    parity: dict[str, dict] = defaultdict(dict)
    by_element: dict[str, dict] = {}
    for m in ctx.models:
        head = ood_head(m)
        target = energy_target(m, head)
        convert = target == MP2020
        if convert:  # compared on the raw scale, as SevenNet-0 and the files are
            target = RAW_FROM_MP2020
        ctx.log(f"ood: {m.name} (head {head or 'own'}, energy {target})")
        per_file: dict[str, dict] = {}
        scored: list = []
        refused = 0
        with timer(m):
            for stem, frames in data.items():
                frames = [f for f in frames if m.covers(f.numbers)]
                if not frames:
                    continue
                preds, n_refused = _predict_file(ctx, res, m, stem, frames, head, convert)
                refused += n_refused
                per_file[stem] = score_file(frames, preds, raw=target in (RAW, RAW_FROM_MP2020))
                scored += [(f, p) for f, p in zip(frames, preds) if p is not None]
                pairs = [(f.forces.ravel(), p["forces"].ravel()) for f, p in zip(frames, preds)
                         if p is not None and f.forces is not None]
                if pairs:
                    parity[stem][m.name] = tuple(np.concatenate(x) for x in zip(*pairs))
        if convert:
            res.notes.append(f"{m.name} predicts MP2020-corrected energies: compared after subtracting pymatgen's "
                             "MaterialsProject2020Compatibility correction (MP's U values assumed); "
                             f"{refused} frames pymatgen refused are left out of its energy errors.")
        if not per_file:
            res.skipped[m.name] = "no structure within the model's elements"
            continue
        res.summary[m.name] = _summary(head, target, per_file)
        if elements := force_mae_by_element(scored):
            by_element[m.name] = res.summary[m.name]["force_mae_by_element_meV_A"] = elements
    _figures(ctx, res, datasets, parity, by_element)
    return res


def _result(ctx: Context, data: dict[str, list], datasets: list[dict]) -> SuiteResult:
    """The suite's result with its headlines (one per file and metric) and the notes on what was measured."""
    res = SuiteResult(NAME, TITLE, datasets, sum(map(len, data.values())), [
        Headline(f"{FILES[stem]}_{key}", f"{LABELS[stem]} {label}", datasets=(f"{DATASETS[0]}/{stem}",))
        for key, label in (("energy_mae_meV_atom", "E MAE (offset) meV/atom"), ("force_mae_meV_A", "F MAE meV/Å"),
                           ("stress_mae_GPa", "S MAE GPa"))
        for stem in FILES])
    sizes = ", ".join(f"{stem} {len(fs)} ({sum(map(len, fs))} atoms)" for stem, fs in data.items())
    res.notes += [
        f"Frames per file (fixed subset, seed {ctx.seed}): {sizes}. Energies: MAE per atom after a per-model, "
        "per-file offset (the median of (pred − DFT)/atom; offsets in report.json, per_file); raw MAE (no offset) "
        "for models whose target is raw MPtrj energies. Forces over all components, stress over all 9.",
        "Heads: hub models on their mptrj head if they have one, else their default head (column head); "
        "peers on their own target.",
        "mptrj-random-1k is in-distribution for peers trained on MPtrj (CHGNet, SevenNet-0).",
    ]
    return res


def _predict_file(ctx: Context, res: SuiteResult, m: EvalModel, stem: str, frames: list, head: str | None,
                  convert: bool) -> tuple[list, int]:
    """Single points on one file's frames, each recorded; with ``convert``, energies are put on the raw scale.
    Returns the predictions (None where the model failed) and how many corrections pymatgen refused."""
    preds, refused = [], 0
    for f in ctx.track(frames, f"ood {m.name} {stem}"):
        atoms = f.to_atoms()
        a = attempt(m.single_point, atoms, head)
        preds.append(a.value)
        row = {"file": stem, "natoms": len(f), "head": head, "e_ref_eV": f.energy}
        if a.ok:
            p = a.value
            if convert:
                c = attempt(mp2020_correction, atoms)
                p["energy"] = p["energy"] - c.value if c.ok else np.nan
                row["mp2020_correction_eV"] = c.value
                row["energy_error"] = c.error
                refused += not c.ok
            row["e_pred_eV"] = p["energy"]
            one = frame_errors([f], [p])
            row.update({key: one[key] for key in ("force_mae_meV_A", "stress_mae_GPa") if key in one})
        res.record(m, f.group, a.error, **row)
    return preds, refused


def _summary(head: str | None, target: str, per_file: dict[str, dict]) -> dict:
    """A model's summary: head, energy target, the per-file scores, and each file's headline metrics with
    how many frames they come from."""
    s: dict = {"head": head or "own", "energy_target": target, "per_file": per_file}
    for stem, d in per_file.items():
        for key in ("energy_mae_meV_atom", "energy_raw_mae_meV_atom", "force_mae_meV_A", "stress_mae_GPa"):
            if key in d:
                s[f"{FILES[stem]}_{key}"] = d[key]
                s[f"{FILES[stem]}_{key}_n"] = d[f"{key.split('_')[0]}_frames"]
    return s


def _figures(ctx: Context, res: SuiteResult, datasets: list[dict], parity: dict[str, dict],
             by_element: dict[str, dict]) -> None:
    """Force parity per file (with how many components fall outside the plot) and force MAE per element."""
    foot = footer(datasets, ctx.models)
    for stem, series in parity.items():
        _, dropped, total, lim = plots.clip_series(series)
        res.notes.append(f"Force parity {stem}: {dropped} of {total} components beyond ±{lim:.3g} eV/Å "
                         f"(the {plots.CLIP_PERCENTILE}th percentile of |F|) not drawn.")
        res.figures.append((f"Force parity, {stem}", plots.parity(
            series, "DFT force component (eV/Å)", "model (eV/Å)", f"Force parity, {stem}", foot)))
    for name, values in by_element.items():
        m = next(x for x in ctx.models if x.name == name)
        res.figures.append((f"Force MAE by element, {name}", plots.periodic_table(
            values, "force MAE (meV/Å)", f"OOD compounds, force MAE per element: {name}", footer(datasets, [m]))))
