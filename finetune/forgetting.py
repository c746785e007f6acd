"""Forgetting report: errors on the fine-tune test set and on the pretraining validation sets, before
and after fine-tuning, as a Markdown table, JSON and a matplotlib PNG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unihub.foundation.data.frame import Frame
from unihub.foundation.metrics import frame_errors


def errors(model, frames: Sequence[Frame], head: str | None = None, align: bool = False) -> dict[str, float]:
    """Energy MAE (meV/atom) and force MAE (meV/Å, over components) of ``model`` on labelled frames,
    through ``head`` or, if None, each frame's own fidelity head. ``align`` removes the best per-element
    energy offset first: pretraining sets differ in energy zero, and only energy differences were learnt."""
    by_head: dict[str, list[Frame]] = {}
    for f in frames:
        by_head.setdefault(head or f.fidelity, []).append(f)
    seen, preds = [], []
    for h, fs in by_head.items():
        seen += fs
        preds += model.predict([f.to_atoms() for f in fs], head=h, stress=False)
    # the offsets are fitted even where few frames pin them: a set is compared with itself before and after
    return report_entry(frame_errors(seen, preds, min_per_offset=0), align)


def report_entry(err: dict, align: bool = False) -> dict[str, float]:
    """The forgetting report's entry of :func:`unihub.foundation.metrics.frame_errors`: the energy error
    (aligned where asked and fitted, else raw) as ``energy_mev_atom``, the force error as ``forces_mev_a``."""
    nan = float("nan")
    energy = err.get("energy_mae_meV_atom_aligned" if align else "energy_mae_meV_atom_raw",
                     err.get("energy_mae_meV_atom_raw", nan))
    return {"energy_mev_atom": energy, "forces_mev_a": err.get("force_mae_meV_A", nan), "frames": err["frames"]}


def pretraining_val_sets(source, per_set: int = 30, seed: int = 0) -> dict[str, list[Frame]]:
    """Up to ``per_set`` frames of each dataset's validation split of a pretraining source, by dataset."""
    val = source.indices("val")
    rng = np.random.default_rng(seed)
    if hasattr(source, "array"):
        names = [d["name"] for d in source.meta["datasets"]]
        ds = np.asarray(source.array("dataset"))[val]
        frame = source.frame
    else:
        names = list(source.datasets)
        ds = np.array([int(source.get(int(i))["dataset"]) for i in val])
        frame = source.frames.__getitem__
    out = {}
    for d in np.unique(ds):
        idx = val[ds == d]
        if len(idx) > per_set:
            idx = np.sort(rng.choice(idx, per_set, replace=False))
        out[names[int(d)]] = [frame(int(i)) for i in idx]
    return out


def measure(model, ft_test: Sequence[Frame], ft_head: str | None, pretrain: dict[str, list[Frame]]) -> dict:
    """The errors one model makes: ``{"finetune_test": {...}, "pretrain": {set: {...}}}``."""
    return {"finetune_test": errors(model, ft_test, ft_head) if ft_test else None,
            "pretrain": {name: errors(model, frames, align=True) for name, frames in pretrain.items()}}


def forgetting_table(results: dict[str, dict], base: str) -> list[dict]:
    """Rows per model: fine-tune test force/energy MAE and the pretraining force MAE relative to ``base``."""
    b = results[base]
    rows = []
    for name, r in results.items():
        row = {"model": name}
        if r.get("finetune_test"):
            row["ft_forces_mev_a"] = r["finetune_test"]["forces_mev_a"]
            row["ft_energy_mev_atom"] = r["finetune_test"]["energy_mev_atom"]
        sets = sorted(set(r["pretrain"]) & set(b["pretrain"]))
        if sets:
            mine = np.array([r["pretrain"][s]["forces_mev_a"] for s in sets])
            ref = np.array([b["pretrain"][s]["forces_mev_a"] for s in sets])
            row["pretrain_forces_mev_a"] = float(np.nanmean(mine))
            # the rise of the mean over sets, so one tiny set cannot dominate
            row["pretrain_force_rise"] = float(np.nanmean(mine) / np.nanmean(ref) - 1)
        rows.append(row)
    return rows


def write_report(results: dict[str, dict], out: str | Path, base: str = "base", title: str = "Forgetting") -> Path:
    """Write ``forgetting.md``, ``forgetting.json`` and ``forgetting.png`` into ``out``; returns ``out``."""
    # pyplot after choosing the Agg backend, and only here: a module-level choice would set the importer's backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = forgetting_table(results, base)
    (out / "forgetting.json").write_text(json.dumps({"rows": rows, "results": results}, indent=1))
    lines = [f"# {title}", "", "| model | fine-tune test F MAE (meV/Å) | fine-tune test E MAE (meV/atom) | "
             "pretraining val F MAE (meV/Å, mean of sets) | rise over base |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r.get('ft_forces_mev_a', float('nan')):.1f} | "
                     f"{r.get('ft_energy_mev_atom', float('nan')):.1f} | "
                     f"{r.get('pretrain_forces_mev_a', float('nan')):.1f} | "
                     f"{100 * r.get('pretrain_force_rise', 0):+.1f}% |")
    sets = sorted(results[base]["pretrain"])
    if sets:
        lines += ["", "Force MAE (meV/Å) per pretraining validation set:", "",
                  "| model | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
        for name, r in results.items():
            lines.append(f"| {name} | " + " | ".join(f"{r['pretrain'].get(s, {}).get('forces_mev_a', float('nan')):.1f}"
                                                     for s in sets) + " |")
    (out / "forgetting.md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["model"] for r in rows]
    axes[0].bar(names, [r.get("ft_forces_mev_a", np.nan) for r in rows], color="tab:blue")
    axes[0].set_ylabel("fine-tune test force MAE (meV/Å)")
    axes[0].set_title("learning the new data")
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(sets))
    for k, name in enumerate(names):
        vals = [results[name]["pretrain"].get(s, {}).get("forces_mev_a", np.nan) for s in sets]
        axes[1].bar(x + k * width, vals, width, label=name)
    axes[1].set_xticks(x + 0.4 - width / 2, sets, rotation=45, ha="right")
    axes[1].set_yscale("log")  # sets differ by orders of magnitude
    axes[1].set_ylabel("force MAE (meV/Å)")
    axes[1].set_title("forgetting: pretraining validation sets")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    fig.savefig(out / "forgetting.png", dpi=120)
    plt.close(fig)
    return out
