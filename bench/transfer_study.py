"""Transfer to chemistry the base never saw: universal-v2 fine-tuned (naive, freeze, replay, EWC) on 25, 50, 100
and all training frames of one system, against the same network trained from scratch for the same number of
optimiser steps, and against universal-v2, CHGNet and SevenNet-0 zero-shot; force, energy and stress MAE on the
system's test split, learning-curve plots, forgetting on bench/mattersim_ood at 50 frames, and (where the
config asks) relaxed lattice parameters and formation energies against the relaxed DFT cells.

    UNIHUB_DATA=../shared/data OMP_NUM_THREADS=1 python bench/transfer_study.py bench/configs/transfer_ymgpo.yaml \
        [--sizes 25 50 100] [--modes naive replay scratch] [--steps 300] [--test-frames 200]

Training frames: the card's train split, taken round-robin over its groups (relaxation runs or materials) in a
seeded order, so every subset is spread across them and the smaller subsets are nested in the larger.
Every training run, fine-tuned or from scratch, follows one rule: it trains on all of its frames, validates on
``val_frames`` frames of the card's validation split (materials or runs apart from train and test), stops after
``patience`` epochs without a lower validation loss (keeping the best weights), and at the latest at the optimiser-
step cap ``steps``. Each mode tries the config's learning rates (``lr`` fine-tuned, ``scratch_lr`` from scratch) and
keeps the run with the lowest validation loss.
Energies are compared after a per-model offset (eval/suites/ood.py's ``score_file``); CHGNet's MP2020-corrected
energies are put back on the raw scale first, as the OOD suite does.

Each finished run is cached under $UNIHUB_CACHE/bench/transfer/<system>/, keyed by its settings, so a killed
study loses at most the run in progress. The record goes to bench/results/transfer_study-<system>-<date>-<sha>.json,
the plots to bench/results/transfer_study/.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

PLOTS = Path(__file__).parent / "results" / "transfer_study"
FINETUNE_MODES = ("naive", "freeze", "replay", "ewc")
METRICS = {"force": ("force_mae_meV_A", "force MAE (meV/Å)"), "energy": ("energy_mae_meV_atom",
                                                                       "energy MAE after offset (meV/atom)"),
           "stress": ("stress_mae_GPa", "stress MAE (GPa)")}


def load_config(path: str | Path, overrides: dict) -> dict:
    """The system's YAML (checked against bench/configs/transfer_ymgpo.yaml's keys) with the command line's
    non-None overrides on top."""
    from record import load_config as read

    cfg = read(path, "transfer_ymgpo")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["sizes"] = [str(s) for s in cfg["sizes"]]
    return cfg


def spread_order(frames: Sequence, seed: int) -> list:
    """``frames`` round-robin over their groups, groups and frames within a group in a seeded order."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(frames):
        groups[f.group].append(i)
    names = sorted(groups)
    queues = [list(rng.permutation(groups[g])) for g in (names[i] for i in rng.permutation(len(names)))]
    order: list[int] = []
    while any(queues):
        order += [q.pop() for q in queues if q]
    return [frames[i] for i in order]


def cached(path: Path, compute: Callable[[], dict]) -> dict:
    """The JSON at ``path``, or ``compute()`` written there atomically (a kill never leaves half a result)."""
    from unihub.foundation.files import atomic_write

    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=1)))
    return value


def run_path(cfg: dict, name: str, **settings) -> Path:
    """Cache file of one run: its name plus a digest of everything that changes its result."""
    from unihub.foundation.files import cache_dir

    keys = ("system", "base", "head", "seed", "test_frames", "forgetting_frames", "lattice")
    digest = hashlib.sha256(json.dumps([{k: cfg.get(k) for k in keys}, settings], sort_keys=True,
                                       default=str).encode()).hexdigest()[:12]
    return cache_dir() / "bench" / "transfer" / cfg["system"] / f"{name}-{digest}.json"


def predictions(model, frames: Sequence) -> tuple[list, str | None, str]:
    """An ``EvalModel``'s single points on ``frames`` (None where it failed), on its mptrj head if it has one,
    energies on the DFT frames' raw scale where its target is MP2020-corrected; with the head and the target."""
    from unihub.eval.models import attempt
    from unihub.eval.suites.ood import MP2020, energy_target, ood_head
    from unihub.foundation.mp2020 import mp2020_correction

    head = ood_head(model)
    target = energy_target(model, head)
    preds = []
    for f in frames:
        atoms = f.to_atoms()
        a = attempt(model.single_point, atoms, head)
        p = a.value if a.ok else None
        if p is not None and target == MP2020:  # onto the raw scale of the DFT frames, as the OOD suite does
            c = attempt(mp2020_correction, atoms)
            p["energy"] = p["energy"] - c.value if c.ok else float("nan")
        preds.append(p)
    return preds, head, target


def score(model, frames: Sequence) -> dict:
    """Force, energy (after a per-model offset; raw too where the model's target is raw MPtrj) and stress errors
    of an ``EvalModel`` on ``frames``; peers on their own target."""
    from unihub.eval.suites.ood import MP2020, RAW, score_file

    preds, head, target = predictions(model, frames)
    return {"head": head or "own", "energy_target": target, **score_file(frames, preds, raw=target in (RAW, MP2020))}


def formation(model, refs: dict) -> dict:
    """Formation energies (meV/atom) of the compound reference cells against the single-element ones, model and
    DFT on the same DFT cells; their MAE and Kendall's tau of the two orderings."""
    from scipy.stats import kendalltau

    preds, _, _ = predictions(model, list(refs.values()))
    energies = {"dft": {k: f.energy for k, f in refs.items()},
                "model": {k: p["energy"] if p else float("nan") for k, p in zip(refs, preds)}}
    out: dict = {}
    for who, e in energies.items():
        mu = {int(f.numbers[0]): e[k] / len(f) for k, f in refs.items() if len(set(f.numbers.tolist())) == 1}
        out[f"{who}_meV_atom"] = {k: 1000 * (e[k] - sum(mu[int(z)] for z in f.numbers)) / len(f)
                                  for k, f in refs.items() if len(set(f.numbers.tolist())) > 1
                                  and set(f.numbers.tolist()) <= set(mu)}
    keys = sorted(out["dft_meV_atom"])
    dft, ours = (np.array([out[f"{w}_meV_atom"][k] for k in keys]) for w in ("dft", "model"))
    out["mae_meV_atom"] = float(np.mean(np.abs(ours - dft)))
    out["kendall_tau"] = float(kendalltau(dft, ours).statistic)
    return out


def ood_forgetting(model, n: int, seed: int) -> dict:
    """Force MAE (meV/Å) per bench/mattersim_ood file on the OOD suite's fixed subset of ``n`` frames per file."""
    from unihub.eval.suites.ood import ood_frames

    return {stem: score(model, frames).get("force_mae_meV_A") for stem, frames in ood_frames(n, seed).items()}


def lattice_refs(frames: Sequence, spec: dict) -> dict:
    """Per formula the lowest-energy DFT frame whose forces and stress are relaxed (the card's own cells)."""
    from unihub.eval.metrics import EV_A3_TO_GPA

    refs = {}
    for formula in spec.get("formulas", []):
        relaxed = [f for f in frames if f.info.get("formula") == formula and f.forces is not None
                   and np.abs(f.forces).max() < spec["fmax_dft"] and f.stress is not None
                   and EV_A3_TO_GPA * np.abs(f.stress).max() < spec["smax_dft_GPa"]]
        if relaxed:
            refs[formula] = min(relaxed, key=lambda f: f.energy / len(f))
    return refs


def lattice(model, refs: dict, spec: dict) -> dict:
    """Relax each reference cell with ``model``; a, b, c and volume against DFT's (%)."""
    from unihub.eval.models import attempt
    from unihub.eval.suites.ood import ood_head
    from unihub.foundation.simulate import relax

    out = {}
    for formula, ref in refs.items():
        atoms = ref.to_atoms()
        a = attempt(relax, atoms, fmax=spec["fmax"], steps=spec["relax_steps"],
                    calculator=model.calculator(ood_head(model)), progress=False)
        if not a.ok:
            out[formula] = {"error": str(a.error)}
            continue
        cell = a.value["atoms"].cell
        out[formula] = {"dft_material": ref.group, "abc_percent": [round(100 * (x / x0 - 1), 2) for x, x0 in
                                                                   zip(cell.lengths(), ref.to_atoms().cell.lengths())],
                        "volume_percent": round(100 * (cell.volume / abs(np.linalg.det(ref.cell)) - 1), 2),
                        "converged": a.value["converged"]}
    return out


def train_one(cfg: dict, base, frames: Sequence, mode: str, val: Sequence, lr: float):
    """The base fine-tuned with ``mode``'s options, or its architecture from random weights (``scratch``), at
    peak learning rate ``lr``, validated on ``val`` (early stopping)."""
    if mode == "scratch":
        from record import train_from_scratch  # the from-scratch recipe of the mlearn study, step budget alike

        return train_from_scratch(base, list(frames), cfg["steps"], cfg["seed"], val, cfg["patience"], lr=lr)
    from unihub.finetune import finetune

    # frames whose split is 'val' validate the run (finetune's rule); the training frames are the card's train split
    return finetune(base, list(frames) + list(val), head=cfg["head"], epochs=100000, max_steps=cfg["steps"],
                    lr=lr, batch_size=cfg["batch_size"], seed=cfg["seed"], loss=cfg.get("loss"),
                    patience=cfg["patience"], **cfg["mode_options"].get(mode, {}))


def evaluate(cfg: dict, model, data: dict, forgetting: bool, physics: bool) -> dict:
    """Test-split errors of an ``EvalModel``; OOD forgetting and relaxed lattices where asked for."""
    out = {"test": score(model, data["test"])}
    if forgetting and cfg.get("forgetting_frames"):
        out["ood_force_mae_meV_A"] = ood_forgetting(model, cfg["forgetting_frames"], cfg["seed"])
    if physics and data["refs"]:
        out["lattice"] = lattice(model, data["refs"], cfg["lattice"])
    if physics and data["formation_refs"]:
        out["formation_energy"] = formation(model, data["formation_refs"])
    return out


def learning_rates(cfg: dict, mode: str) -> list[float]:
    """The learning rates a mode tries: ``lr`` for fine-tuning, ``scratch_lr`` from scratch (a number or a list)."""
    lrs = cfg.get("scratch_lr" if mode == "scratch" else "lr")
    if lrs is None and mode == "scratch":
        from record import SCRATCH_LR

        lrs = [SCRATCH_LR]
    lrs = lrs if isinstance(lrs, list) else [lrs]
    if not lrs or any(not isinstance(x, int | float) or x <= 0 for x in lrs):
        raise ValueError(f"{mode}: learning rates must be positive numbers, got {lrs!r}")
    return [float(x) for x in lrs]


def training_run(cfg: dict, base, data: dict, n: str, mode: str) -> dict:
    """The model trained on the first ``n`` frames of the spread order, scored: one run per learning rate the
    mode tries (each cached), the one with the lowest validation loss kept, as a user would choose."""
    lrs = learning_rates(cfg, mode)
    if len(lrs) > 1 and not data["val"]:
        raise ValueError(f"{mode}: choosing among learning rates {lrs} needs validation frames (val_frames > 0)")
    runs = [_training_run(cfg, base, data, n, mode, lr) for lr in lrs]
    if len(runs) == 1:
        return runs[0]
    val = [(r.get("best") or {}).get("val_loss", float("inf")) for r in runs]
    out = dict(runs[int(np.argmin(val))])
    out["val_loss_per_lr"] = {str(lr): v for lr, v in zip(lrs, val, strict=True)}
    return out


def _training_run(cfg: dict, base, data: dict, n: str, mode: str, lr: float) -> dict:
    """One training run (cached)."""
    from unihub.foundation.files import state_digest

    train = data["train"]
    k = len(train) if n == "all" else min(int(n), len(train))
    settings = {"n": k, "mode": mode, "steps": cfg["steps"], "batch_size": cfg["batch_size"],
                "val_frames": len(data["val"]), "patience": cfg["patience"], "lr": lr,
                "options": cfg["mode_options"].get(mode)}
    if mode != "scratch":  # a retrained base under the same name must not reuse its predecessor's runs
        settings["base_weights"] = state_digest(base)
    else:  # from scratch takes only the base's architecture
        settings["architecture"] = base.config.to_dict()
    if cfg.get("loss") and mode != "scratch":
        settings["loss"] = cfg["loss"]
    if cfg.get("formation") and n == "50" and mode != "scratch":
        settings["formation"] = True

    def compute() -> dict:
        from unihub.eval.models import wrap_hub_model

        t0 = time.perf_counter()
        model = train_one(cfg, base, train[:k], mode, data["val"], lr)
        wall = time.perf_counter() - t0
        extra = getattr(model, "extra_config", None) or {}
        best = extra.get("finetune", {}).get("method", {}).get("best") or extra.get("training", {}).get("best")
        physics = n == "50" and mode != "scratch"  # the variants compared at the 50 frames
        return {**evaluate(cfg, wrap_hub_model(model, f"{mode}-{n}"), data, physics, physics), "train_frames": k,
                "train_groups": len({f.group for f in train[:k]}), "train_wall_s": wall, "best": best, **settings}

    return cached(run_path(cfg, f"{n}-{mode}", **settings), compute)


def run_study(cfg: dict, log: Callable[[str], None] = print) -> dict:
    """Every zero-shot score and training run the config names (cached); {key: result}."""
    from unihub.eval.models import resolve_models, wrap_hub_model
    from unihub.eval.suites import pick
    from unihub.foundation.data import load_dataset
    from unihub.foundation.files import state_digest
    from unihub.zoo import load_model

    system = cfg["system"]
    data = {"train": spread_order(load_dataset(system, split="train"), cfg["seed"]),
            "test": pick(load_dataset(system, split="test"), cfg.get("test_frames"), cfg["seed"]),
            # marked 'val' on the frame: the card assigns splits by group, the frames themselves may carry none
            "val": [dataclasses.replace(f, split="val")
                    for f in pick(load_dataset(system, split="val"), cfg.get("val_frames"), cfg["seed"])],
            "refs": lattice_refs(load_dataset(system), cfg["lattice"]) if cfg.get("lattice") else {}}
    # every formula's relaxed cell by the lattice rule: the compounds' formation energies against the elements'
    formulas = sorted({f.info.get("formula") for f in data["train"] + data["test"]} - {None})
    data["formation_refs"] = (lattice_refs(load_dataset(system), {**cfg["lattice"], "formulas": formulas})
                              if cfg.get("formation") else {})
    base = load_model(cfg["base"])
    log(f"{system}: {len(data['train'])} training frames, {len(data['test'])} test frames; "
        f"lattice references {sorted(data['refs'])}")
    results = {}
    for m in [wrap_hub_model(base, cfg["base"]), *resolve_models(cfg["peers"])[0]]:
        is_base = m.model is base  # the base's OOD errors are what forgetting is measured against

        def compute(m=m, is_base=is_base) -> dict:
            t0 = time.perf_counter()
            return {**evaluate(cfg, m, data, is_base, True), "wall_s": time.perf_counter() - t0}

        key = {"forgetting": is_base, **({"formation": True} if cfg.get("formation") else {}),
               **({"weights": state_digest(base)} if is_base else {})}
        res = results[f"zero-shot/{m.name}"] = cached(run_path(cfg, f"{m.name}-zero-shot", **key), compute)
        log(f"zero-shot {m.name}: F {res['test'].get('force_mae_meV_A', float('nan')):.1f} meV/Å")
    # the 50-frame comparison first, so an interrupted study already answers the headline question
    for n in sorted(cfg["sizes"], key=lambda s: (s != "50", float("inf") if s == "all" else int(s))):
        for mode in cfg["modes"]:
            res = results[f"{n}/{mode}"] = training_run(cfg, base, data, n, mode)
            log(f"{n} frames, {mode}: F {res['test'].get('force_mae_meV_A', float('nan')):.1f} meV/Å")
    return results


def compact(test: dict) -> dict:
    """The headline errors of one score."""
    keys = ("force_mae_meV_A", "energy_mae_meV_atom", "energy_raw_mae_meV_atom", "stress_mae_GPa", "frames")
    return {k: test[k] for k in keys if k in test}


def summarise(cfg: dict, results: dict) -> dict:
    """The record's figures: errors per run, the issue's targets at 50 frames, forgetting, lattice."""
    f = lambda key: results.get(key, {}).get("test", {}).get("force_mae_meV_A", float("nan"))  # noqa: E731
    base_key = f"zero-shot/{cfg['base']}"
    keys = ("base", "head", "steps", "lr", "scratch_lr", "loss", "batch_size", "seed", "sizes", "modes",
            "test_frames", "val_frames", "patience")
    run_keys = ("train_frames", "lr", "val_loss_per_lr")
    weights = {r["base_weights"] for r in results.values() if "base_weights" in r}
    figures: dict = {"system": cfg["system"], "settings": {k: cfg.get(k) for k in keys},
                     "base_weights": sorted(weights)[0] if len(weights) == 1 else sorted(weights),
                     "errors": {key: {**compact(r["test"]), **{k: r[k] for k in run_keys if k in r}}
                                for key, r in results.items()}}
    targets = {}
    for mode in (m for m in cfg["modes"] if m != "scratch"):
        if f"50/{mode}" in results:
            targets[mode] = {"scratch_over_finetuned_force": f("50/scratch") / f(f"50/{mode}"),
                             "chgnet_over_finetuned_force": f("zero-shot/chgnet") / f(f"50/{mode}")}
    figures["at_50_frames"] = targets
    base_ood = results.get(base_key, {}).get("ood_force_mae_meV_A")
    if base_ood:
        figures["ood_force_rise_percent"] = {
            key.split("/")[1]: {stem: round(100 * (v / base_ood[stem] - 1), 1)
                                for stem, v in r["ood_force_mae_meV_A"].items()}
            for key, r in results.items() if key.startswith("50/") and "ood_force_mae_meV_A" in r}
    lat = {key: r["lattice"] for key, r in results.items() if "lattice" in r}
    if lat:
        figures["lattice_vs_dft_percent"] = lat
    form = {key: r["formation_energy"] for key, r in results.items() if "formation_energy" in r}
    if form:
        figures["formation_energy"] = form
    return figures


def plot_curves(cfg: dict, results: dict, out: Path = PLOTS) -> list[Path]:
    """Test MAE against training frames per mode, zero-shot models as flat lines (eval/plots.py's ``curves``)."""
    from unihub.eval import plots

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for quantity, (key, label) in METRICS.items():
        series = {}
        for mode in cfg["modes"]:
            pts = sorted((r["train_frames"], r["test"][key]) for k, r in results.items()
                         if k.endswith(f"/{mode}") and not k.startswith("zero-shot") and key in r["test"])
            if pts:
                series["from scratch" if mode == "scratch" else f"fine-tuned ({mode})"] = tuple(zip(*pts))
        xs = [x for s in series.values() for x in s[0]]
        for k, r in results.items():
            if k.startswith("zero-shot/") and key in r["test"] and xs:
                series[f"{k.split('/', 1)[1]} zero-shot"] = ((min(xs), max(xs)), (r["test"][key],) * 2)
        if not series:
            continue
        footer = (f"{cfg['system']} test split ({cfg.get('test_frames') or 'all'} frames); base {cfg['base']}; "
                  f"every run stops {cfg['patience']} epochs after its best loss on {cfg['val_frames']} frames of the "
                  f"val split, at most {cfg['steps']} steps of {cfg['batch_size']} frames; seed {cfg['seed']}")
        path = out / f"{cfg['system']}-{quantity}.png"
        path.write_bytes(plots.curves(series, "training frames", label, f"{cfg['system']}: {label}", footer,
                                      log=True))
        paths.append(path)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="bench/configs/transfer_*.yaml")
    p.add_argument("--sizes", nargs="+", help="override the config's training-set sizes (e.g. 25 50 100 all)")
    p.add_argument("--modes", nargs="+", choices=[*FINETUNE_MODES, "scratch"], help="override the config's modes")
    p.add_argument("--steps", type=int, help="override the optimiser steps per training run")
    p.add_argument("--lr", type=float, nargs="+", help="override the fine-tuning learning rates tried")
    p.add_argument("--loss", type=json.loads, help='override the fine-tuning loss weights, JSON, e.g. '
                   '\'{"energy": 1, "forces": 10, "stress": 10}\' (from scratch\'s)')
    p.add_argument("--test-frames", dest="test_frames", type=int, help="score a fixed subset of the test split")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--no-record", action="store_true", help="write no record in bench/results")
    p.add_argument("--no-plots", action="store_true",
                   help="leave bench/results/transfer_study/ alone (ablations: the plots show the config's own runs)")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    overrides = ("sizes", "modes", "steps", "lr", "loss", "test_frames")
    cfg = load_config(args.config, {k: getattr(args, k) for k in overrides})
    t0 = time.perf_counter()
    results = run_study(cfg, log=lambda s: print(s, flush=True))
    figures = summarise(cfg, results)
    print(json.dumps({k: figures[k] for k in ("at_50_frames", "ood_force_rise_percent") if k in figures}, indent=1))
    for path in [] if args.no_plots else plot_curves(cfg, results):
        print(path)
    if args.no_record:
        return
    from record import write_record

    print(write_record(f"transfer_study-{cfg['system']}", figures, args.threads, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
