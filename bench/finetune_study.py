"""Fine-tuning study on mlearn (Li, Mo, Cu, Ni, Si, Ge): learning curves and forgetting, side by side.

For every element: universal-v1 zero-shot, CHGNet zero-shot (if installed), and the same architecture
fine-tuned from universal-v1 vs trained from scratch on 25, 50, 100 and all training frames (a nested
random subset of the source training frames), every run with the same optimiser-step budget. Held-out
test set = the frames of the source's test.json. At 50 frames the fine-tuning variants are compared:
naive, frozen (embeddings + first interaction block), replay (pretraining frames chosen by FPS on the
model's descriptors, as many per epoch as fine-tune frames) and EWC; for these and the base model the
force MAE on the pretraining validation sets (up to --val-per-set frames per set) measures forgetting.

    UNIHUB_DATA=../shared/data UNIHUB_CACHE=.cache nice -n 15 python bench/finetune_study.py \
        --config my-elements.yaml --tag a    # results in bench/results/finetune_study/results-a.json
    python bench/finetune_study.py --summarise   # merges all results-*.json: table + plots

The base, elements, sizes, step budget, learning rate and variants are the config's
(``bench/configs/finetune_study.yaml``; a ``--config`` file overrides any of them). Runs already in the
results file are skipped, so an interrupted study resumes. Every invocation writes one record (the merged
summary) under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from record import load_config, mlearn_frames, train_from_scratch, write_record

OUT = Path(__file__).parent / "results" / "finetune_study"
def scores(frames, preds) -> dict:
    """Force MAE (meV/Å) and energy MAE (meV/atom): raw, and after one per-element offset (peers' references differ)."""
    from unihub.finetune.forgetting import report_entry
    from unihub.foundation.metrics import frame_errors

    err = frame_errors(frames, preds)
    return {**report_entry(err), "energy_mev_atom_aligned": err.get("energy_mae_meV_atom_aligned")}


def ours(model, frames, head: str = "pbe") -> dict:
    return scores(frames, model.predict([f.to_atoms() for f in frames], head=head, stress=False))


def chgnet(frames) -> dict | None:
    from unihub.zoo.peers import peer_available, peer_calculator

    if not peer_available("chgnet"):
        return None
    calc = peer_calculator("chgnet", num_threads=1)
    preds = []
    for f in frames:
        a = f.to_atoms()
        a.calc = calc
        preds.append({"energy": a.get_potential_energy(), "forces": a.get_forces()})
    return scores(frames, preds)


def base_from_checkpoint(ckpt: str, config: str = "foundation/configs/universal-v1-stage3.yaml"):
    """An interim base model: the EMA weights of a pretraining checkpoint (for studies while pretraining runs)."""
    from unihub.foundation.model.config import ModelConfig
    from unihub.foundation.training.config import TrainConfig
    from unihub.zoo.models import UniversalModel

    ck = torch.load(ckpt, weights_only=True, map_location="cpu")
    model = UniversalModel(ModelConfig.from_dict(ck["hyper_parameters"]["model"]))
    model.load_state_dict({k[4:]: v for k, v in ck["state_dict"].items() if k.startswith("ema.")})
    model.name = f"universal-v1@step{ck['global_step']}"
    model.extra_config = {"training": {"config": TrainConfig.from_yaml(config).to_dict(),
                                       "global_step": ck["global_step"]}}
    return model.eval()


def run_study(cfg: dict, out: Path, tag: str) -> None:
    """Every run of the plan that ``out/results-<tag>.json`` lacks, each saved as soon as it ends."""
    from unihub.finetune import finetune
    from unihub.finetune.forgetting import errors, pretraining_val_sets
    from unihub.finetune.run import pretraining_source
    from unihub.zoo import load_model

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"results-{tag}.json"
    results = json.loads(path.read_text()) if path.exists() else {}

    def save(key, value):
        results[key] = value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(path)
        print(key, json.dumps(value.get("test", value))[:200], flush=True)

    base = base_from_checkpoint(cfg["checkpoint"]) if cfg["checkpoint"] else load_model(cfg["base"])
    print(f"base: {base.name}", flush=True)
    if "base/name" not in results:
        results["base/name"] = {"name": base.name}
    pt = pretraining_source(base)
    val_sets = pretraining_val_sets(pt, cfg["val_per_set"], seed=0)
    if "base/pretrain" not in results:
        save("base/pretrain", {name: errors(base, fs, align=True) for name, fs in val_sets.items()})
    plan = []  # the 50-frame targets of every element first, then element by element: variants, learning curve
    for el in cfg["elements"]:
        plan += [(el, None, "base")]
        if "finetune" in cfg["variants"] or not cfg["forgetting_only"]:
            plan += [(el, 50, "finetune")]
        plan += [] if cfg["forgetting_only"] else [(el, None, "chgnet"), (el, 50, "scratch")]
    for el in cfg["elements"]:
        plan += [(el, 50, v) for v in cfg["variants"] if v != "finetune"]
        if not cfg["forgetting_only"]:
            plan += [(el, str(n), m) for n in cfg["sizes"] if str(n) != "50" for m in ("finetune", "scratch")]
    data = {}
    for el, n, method in plan:
        key = f"{el}/{n}/{method}"
        if key in results:
            continue
        if el not in data:
            data[el] = mlearn_frames(el)
        train_all, test = data[el]
        t0 = time.perf_counter()
        if method == "base":
            save(key, {"test": ours(base, test), "wall_s": time.perf_counter() - t0})
            continue
        if method == "chgnet":
            res = chgnet(test)
            if res is not None:
                save(key, {"test": res, "wall_s": time.perf_counter() - t0})
            continue
        order = np.random.default_rng(cfg["seed"]).permutation(len(train_all))
        k = len(train_all) if n == "all" else min(int(n), len(train_all))
        subset = [train_all[i] for i in np.sort(order[:k])]
        if method == "scratch":
            model = train_from_scratch(base, subset, cfg["steps"], cfg["seed"])
        else:
            model = finetune(base, subset, head="pbe", epochs=100000, max_steps=cfg["steps"], lr=cfg["lr"],
                             batch_size=4, seed=cfg["seed"], **cfg["variants"][method])
        wall = time.perf_counter() - t0
        rec = {"test": ours(model, test), "wall_s": wall, "steps": cfg["steps"], "train_frames": k,
               "lr": None if method == "scratch" else cfg["lr"]}
        if str(n) == "50" and method != "scratch":
            rec["pretrain"] = {name: errors(model, fs, align=True) for name, fs in val_sets.items()}
        save(key, rec)


def summarise(out: Path, cfg: dict) -> dict:
    """Merge results-*.json; write summary.md, summary.json and the learning-curve and forgetting plots, and
    return the summary's figures."""
    from unihub.finetune.forgetting import write_report

    res: dict = {}
    for p in sorted(out.glob("results-*.json")):
        res.update(json.loads(p.read_text()))
    base_pt = res.get("base/pretrain", {})
    found = sorted({k.split("/")[0] for k in res if not k.startswith("base/")})
    elements = [e for e in cfg["elements"] if e in found] + [e for e in found if e not in cfg["elements"]]
    variants = cfg["variants"]
    sizes = ["25", "50", "100", "all"]
    base_name = res.get("base/name", {}).get("name", "?")
    steps = sorted({r["steps"] for r in res.values() if isinstance(r, dict) and "steps" in r})
    lrs = sorted({r["lr"] for r in res.values() if isinstance(r, dict) and r.get("lr")})
    lines = ["# Fine-tuning study (mlearn, held-out test.json frames)", "",
             f"Base model `{base_name}`; every training run {steps} optimiser steps of 4 frames"
             + (f"; fine-tuning learning rate {lrs}." if lrs else "."), "",
             "Force MAE (meV/Å) on the test frames; fine-tuned (ft) vs from scratch (sc), same step budget.", "",
             "| element | base zero-shot | CHGNet zero-shot | " + " | ".join(f"ft {s} | sc {s}" for s in sizes)
             + " | sc/ft at 50 |", "|---" * (4 + 2 * len(sizes)) + "|"]
    summary = {}
    for el in elements:
        def f(key):
            r = res.get(key)
            return r["test"]["forces_mev_a"] if r else float("nan")
        row = [f(f"{el}/None/base"), f(f"{el}/None/chgnet")]
        for s in sizes:
            row += [f(f"{el}/{s}/finetune"), f(f"{el}/{s}/scratch")]
        ratio = f(f"{el}/50/scratch") / f(f"{el}/50/finetune")
        names = ["base_zero_shot", "chgnet_zero_shot", *(f"{m}_{s}" for s in sizes for m in ("finetune", "scratch"))]
        summary[el] = {**{f"{n}_force_mae_meV_A": v for n, v in zip(names, row)}, "scratch_over_ft_50": ratio}
        lines.append(f"| {el} | " + " | ".join(f"{v:.1f}" for v in row) + f" | {ratio:.2f} |")
    lines += ["", "Energy MAE (meV/atom, raw; CHGNet after one per-element offset) at 50 frames:", "",
              "| element | base | CHGNet (aligned) | ft 50 | sc 50 | freeze | replay | ewc |", "|---" * 8 + "|"]
    for el in elements:
        def e(key, kind="energy_mev_atom"):
            r = res.get(key)
            return (r["test"].get(kind) or float("nan")) if r else float("nan")
        vals = [e(f"{el}/None/base"), e(f"{el}/None/chgnet", "energy_mev_atom_aligned"),
                *(e(f"{el}/50/{m}") for m in ("finetune", "scratch", "freeze", "replay", "ewc"))]
        lines.append(f"| {el} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    lines += ["", "## Variants at 50 frames: fine-tune test force MAE and forgetting", "",
              "Forgetting = rise of the mean force MAE over the pretraining validation sets, relative to the base.",
              "Columns: rise of the mean MAE over sets; geometric mean of per-set MAE ratios − 1 (sets with base MAE"
              " > 10 meV/Å); the worst set.", "",
              "| element | method | test F MAE (meV/Å) | pretraining val F MAE (meV/Å) | rise of mean | "
              "geo-mean rise | worst set |", "|---|---|---|---|---|---|---|"]
    table, rises, geo_rises = forgetting(res, elements, variants, base_pt)
    lines += table
    walls = [(k, r["wall_s"]) for k, r in res.items() if k.endswith("/100/finetune")]
    if walls:
        lines += ["", "Wall time of fine-tuning on 100 frames (s, incl. E0 fit and evaluation set-up): "
                  + ", ".join(f"{k.split('/')[0]} {w:.0f}" for k, w in walls)]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    figures = {"summary": summary, "forgetting_rise": rises, "forgetting_geo_rise": geo_rises}
    (out / "summary.json").write_text(json.dumps(figures, indent=1))
    plot_learning_curves(res, elements, sizes, out / "learning_curves.png")

    # forgetting report of one element's variants, in finetune's own format
    for el in elements:
        done = {m: res[f"{el}/50/{m}"] for m in variants if "pretrain" in res.get(f"{el}/50/{m}", {})}
        if done and base_pt:
            rep = {"base": {"finetune_test": res[f"{el}/None/base"]["test"], "pretrain": base_pt}}
            rep.update({m: {"finetune_test": r["test"], "pretrain": r["pretrain"]} for m, r in done.items()})
            write_report(rep, out / f"forgetting_{el}", title=f"Forgetting after fine-tuning on 50 {el} frames")
    return figures


def forgetting(res: dict, elements: list, variants: dict, base_pt: dict) -> tuple[list[str], dict, dict]:
    """Table rows of the 50-frame variants' forgetting, and per variant the rises over elements: of the mean
    pretraining force MAE, and of the geometric mean of per-set ratios."""
    lines: list[str] = []
    rises: dict = {}
    geo_rises: dict = {}
    sets = sorted(s for s in base_pt if np.isfinite(base_pt[s]["forces_mev_a"]))  # sets with forces
    ref = np.mean([base_pt[s]["forces_mev_a"] for s in sets]) if sets else float("nan")
    for el in elements:
        for m in variants:
            r = res.get(f"{el}/50/{m}")
            if not r or "pretrain" not in r:
                continue
            mean = np.mean([r["pretrain"][s]["forces_mev_a"] for s in sets])
            # sets of symmetric cells have ~0 forces; a ratio to ~0 says nothing
            ratios = np.array([r["pretrain"][s]["forces_mev_a"] / base_pt[s]["forces_mev_a"] for s in sets
                               if base_pt[s]["forces_mev_a"] > 10])
            geo = float(np.exp(np.log(ratios).mean()))  # every set counts alike, large-error sets do not dominate
            rises.setdefault(m, []).append(mean / ref - 1)
            geo_rises.setdefault(m, []).append(geo - 1)
            lines.append(f"| {el} | {m} | {r['test']['forces_mev_a']:.1f} | {mean:.1f} | "
                         f"{100 * (mean / ref - 1):+.1f}% | {100 * (geo - 1):+.1f}% | "
                         f"{100 * (ratios.max() - 1):+.0f}% |")
    lines += ["", f"Base model: mean pretraining val force MAE {ref:.1f} meV/Å over {len(sets)} sets with forces.",
              "", "Mean over elements of the rise of the mean: "
              + ", ".join(f"{m} {100 * np.mean(v):+.1f}% (n={len(v)})" for m, v in rises.items()),
              "", "Mean over elements of the geo-mean rise: "
              + ", ".join(f"{m} {100 * np.mean(v):+.1f}%" for m, v in geo_rises.items())]
    return lines, rises, geo_rises


def plot_learning_curves(res: dict, elements: list, sizes: list, path: Path) -> None:
    """Test force MAE against training frames, fine-tuned and from scratch, one panel per element."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, max(len(elements), 1))
    rows_n = -(-len(elements) // cols) or 1
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.4 * rows_n), squeeze=False)
    for ax, el in zip(axes.flat, elements):
        for m, style in (("finetune", "o-"), ("scratch", "s--")):
            xs, ys = [], []
            for s in sizes:
                r = res.get(f"{el}/{s}/{m}")
                if r:
                    xs.append(r["train_frames"])
                    ys.append(r["test"]["forces_mev_a"])
            ax.plot(xs, ys, style, label={"finetune": "fine-tuned", "scratch": "from scratch"}[m])
        for key, color, label in ((f"{el}/None/base", "k", "universal-v1 zero-shot"),
                                  (f"{el}/None/chgnet", "tab:red", "CHGNet zero-shot")):
            if key in res:
                ax.axhline(res[key]["test"]["forces_mev_a"], color=color, ls=":", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(el)
        ax.set_xlabel("training frames")
        ax.set_ylabel("test force MAE (meV/Å)")
    for ax in list(axes.flat)[len(elements):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML settings (default: bench/configs/finetune_study.yaml)")
    p.add_argument("--tag", default="all", help="this run's results file: OUT/results-<tag>.json")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--summarise", action="store_true", help="only merge results and write the table and plots")
    args = p.parse_args()
    cfg = load_config(args.config, "finetune_study")
    t0 = time.perf_counter()
    if not args.summarise:
        run_study(cfg, Path(args.out), args.tag)
    figures = summarise(Path(args.out), cfg)
    print(write_record("finetune_study", figures, 1, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
