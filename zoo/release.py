"""Package a trained run as a shipped zoo model: weights, config, card with measured figures, registry entry.

    python -m unihub.zoo.release runs/universal-v1/model --name universal-v1 \
        [--accuracy accuracy.json] [--speed speed.json] [--wbm wbm.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

from unihub.foundation.files import atomic_write
from unihub.zoo.checksum import sha256_file
from unihub.zoo.models import UniversalModel
from unihub.zoo.registry import REGISTRY_FILE


def training_statistics(model: UniversalModel) -> dict:
    """Frames per element and datasets per head, from the pack the model was trained on."""
    from ase.data import chemical_symbols

    from unihub.foundation.training.config import TrainConfig
    from unihub.foundation.training.run import open_source

    cfg = TrainConfig.from_dict(model.extra_config["training"]["config"])
    mix = open_source(cfg)
    off = np.asarray(mix.array("atom_offset"))
    numbers = np.asarray(mix.array("numbers"))
    fid = np.asarray(mix.array("fidelity"))
    ds = np.asarray(mix.array("dataset"))
    train = mix.indices("train")
    per_element: Counter = Counter()
    for i in train:
        per_element.update(np.unique(numbers[off[i]:off[i + 1]]).tolist())
    names = mix.datasets
    heads: dict[str, Counter] = {}
    for i in train:
        heads.setdefault(mix.fidelities[fid[i]], Counter())[names[ds[i]]] += 1
    return {"frames_per_element": {chemical_symbols[z]: int(n) for z, n in sorted(per_element.items())},
            "datasets_per_head": {h: dict(c) for h, c in heads.items()},
            "train_frames_in_pack": int(len(train)),
            "cap_per_dataset": cfg.data.max_frames_per_dataset, "datasets": names}


def last_val_metrics(run_dir: Path) -> dict:
    """The last logged validation MAE per dataset (meV/atom, meV/Å, GPa)."""
    path = run_dir / "logs" / "version_0" / "metrics.csv"
    if not path.exists():
        return {}
    last: dict = {}
    for row in csv.DictReader(open(path)):
        for k, v in row.items():
            if v and k.startswith("val_"):
                last[k] = float(v)
    return last


def _weights(training: dict) -> str:
    loss = training.get("config", {}).get("loss", {})
    return ":".join(format(loss[k], "g") if k in loss else "?" for k in ("energy", "forces", "stress"))


def training_stages(training: dict, location: Path | None) -> list[dict]:
    """The chain of runs behind a model exported at ``location`` (``RUN/model``), oldest first, following
    ``init_from``; each with its config, steps and the file in ``foundation/configs`` whose ``output`` is the
    run's directory (where it lies now: a run may have been renamed after it was trained)."""
    import yaml

    files = {}
    for f in sorted((Path(__file__).parents[1] / "foundation" / "configs").glob("*.yaml")):
        out = (yaml.safe_load(f.read_text()) or {}).get("output")
        if out:
            files[str(Path(out))] = f"foundation/configs/{f.name}"
    stages = []
    while training:
        cfg = training.get("config", {})
        run_dir = str(Path(location).parent) if location is not None else None
        stages.append({"config": cfg, "steps": training.get("global_step", "?"), "file": files.get(run_dir)})
        location = Path(cfg["init_from"]) if cfg.get("init_from") else None
        parent = location / "config.json" if location is not None else None
        training = json.loads(parent.read_text()).get("training", {}) if parent and parent.exists() else {}
    return stages[::-1]


def card_body(name: str, model: UniversalModel, stats: dict, val: dict, acc: list, speed: list, wbm: list,
              location: Path | None = None) -> str:
    heads = model.config.fidelities
    lines = [f"Universal interatomic potential `{name}` of unihub: a PaiNN-style "
             f"graph network ({model.num_parameters():,} parameters, cutoff {model.config.cutoff} Å, "
             f"{model.config.layers} interaction blocks, {model.config.features} scalar / "
             f"{model.config.vector_features} vector channels) with element embeddings for Z = 1..118 and one "
             f"fidelity head per DFT functional: {', '.join(heads)} (default `{model.config.default_fidelity}`).",
             "", "## Training data per head", "",
             "| head | datasets (training frames in the pack, before the per-dataset cap) |", "|---|---|"]
    for h, c in stats["datasets_per_head"].items():
        lines.append(f"| {h} | " + ", ".join(f"{d} ({n})" for d, n in sorted(c.items())) + " |")
    stages = training_stages(model.extra_config.get("training", {}), location)
    batch = stages[-1]["config"].get("data", {}).get("batch_size", "?")
    parts = []
    for i, st in enumerate(stages, 1):
        c = st["config"]
        start = f"from stage {i - 1}'s network" if i > 1 else "from random weights"
        parts.append(f"Stage {i} (`{st['file'] or 'config not in foundation/configs'}`): {st['steps']} steps {start}, "
                     f"loss weights energy:forces:stress = {_weights({'config': c})}, peak learning rate "
                     f"{c.get('optim', {}).get('lr', '?')}, vector-norm smoothing "
                     f"{c.get('model', {}).get('vector_norm_eps', 'legacy 1e-4')}")
    run = (f"{len(stages)} stage(s) on CPU, optimiser steps of {batch} frames, at most {stats['cap_per_dataset']} "
           f"frames per dataset per epoch. " + ". ".join(parts))
    commands = " then ".join(f"`unihub train {st['file']}`" for st in stages if st["file"])
    lines += ["", f"Training: {run}. Commands: {commands}.",
              "", "## Elements seen in training (training frames containing the element)", "",
              ", ".join(f"{el} {n}" for el, n in stats["frames_per_element"].items()), ""]
    if val:
        lines += ["## Validation errors (last validation of the run, EMA weights)", "",
                  "| dataset | energy MAE (meV/atom) | force MAE (meV/Å) | stress MAE (GPa) |", "|---|---|---|---|"]
        for d in stats["datasets"]:
            def g(key, d=d):
                v = val.get(f"val_{d}/{key}")
                return f"{v:.3g}" if v is not None else "-"
            lines.append(f"| {d} | {g('energy_mae_meV_atom')} | {g('forces_mae_meV_A')} | {g('stress_mae_GPa')} |")
        lines.append("")
    if acc:
        lines += ["## Test errors (held-out test split; `bench/accuracy.py`)", "",
                  "| dataset | model | frames | energy MAE, offset-aligned (meV/atom) | energy MAE raw (meV/atom) "
                  "| force MAE (meV/Å) | stress MAE (GPa) |", "|---|---|---|---|---|---|---|"]
        for r in acc:
            def f(key, r=r, fmt=".1f"):
                return format(r[key], fmt) if key in r else "-"
            lines.append(f"| {r['dataset']} | {r['model']} | {r['frames']} | {f('energy_mae_meV_atom_aligned')} | "
                         f"{f('energy_mae_meV_atom_raw')} | {f('force_mae_meV_A')} | "
                         f"{f('stress_mae_GPa', fmt='.3f')} |")
        lines.append("")
    if wbm:
        lines += ["## WBM formation energies (972 DFT-relaxed structures; `bench/wbm.py`)", "",
                  "| model | elemental references | MAE vs raw (meV/atom) | MAE vs MP2020-corrected (meV/atom) |",
                  "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['mu']} | {r['mae_raw_meV_atom']:.1f} | {r['mae_corrected_meV_atom']:.1f} |"
                  for r in wbm]
        lines.append("")
    if speed:
        lines += ["## Inference cost (`bench/speed.py`, diamond Si, energy + forces + stress, 2 threads)", "",
                  "| model | atoms | µs per atom-step | peak memory (GiB) |", "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['atoms']} | {r['us_per_atom_step']:.1f} | {r['peak_rss_gib']:.2f} |"
                  for r in speed]
        lines.append("")
    lines += ["## Limitations", "",
              "Pretrained on CPU within one working session (no GPU was available), on about 55k public DFT frames: "
              "far less data and compute than MPtrj-scale models. Elements or chemistries absent from the table above "
              "are extrapolations (the calculator warns). Heads share one representation; absolute energies are only "
              "comparable within a head. Each dataset's energies were aligned onto its head by per-element least "
              "squares (`energy_alignment` in config.json holds the shifts; add them back to predict in a dataset's "
              "own zero). The diatomic curves are not aligned: they share MatPES's zero, so their dissociation limits "
              "are isolated-atom energies on the PBE and r2SCAN heads. "
              "Compound energetics are weak (see the WBM table): the PBE head's training data are elements, "
              "alloys and dimers, compounds reach it only through the "
              "representation shared with the PBEsol head (about 900 MAD frames), so formation energies and "
              "equilibrium volumes of ionic crystals are not reliable in this version; use it for metals, alloys and "
              "covalent elemental systems, or fine-tune. Stages 1-2 had a cusp at every high-symmetry site (the "
              "vector norm of the update block); stage 3 replaced it with a smooth norm: the Si Γ optical phonon "
              "is 18.5 THz at 0.01 Å displacements and 17.5 at 0.03 Å (DFT 15.5; stage 2 gave 38.8 / 28.5 / "
              "18.7 at 0.005 / 0.01 / 0.03 Å), so still about 15 % too stiff. Stage 3 is worse than stage 2 "
              "on one structure: relaxed α-boron (the "
              "PBE elemental reference B12), with force errors of 0.5 eV/Å (stage 2: 0.1), which dominate the "
              "elemental-reference force MAE in the test table. Phases the training data barely "
              "cover can be wrong (fcc Si relaxes to 9.4 Å³/atom); a fine-tuned copy can develop holes "
              "there (`unihub distill` drops teacher labels below the ground-state energy), so check a "
              "fine-tuned or distilled model's defects and phases before production runs.", ""]
    return "\n".join(lines)


def release(run_model_dir: Path, name: str, accuracy: list, speed: list, wbm: list, aliases: list[str]) -> Path:
    model = UniversalModel.load_dir(Path(run_model_dir))
    model.name = name
    align = Path(run_model_dir).parent / "energy_alignment.json"
    if "energy_alignment" not in model.extra_config and align.exists():  # runs exported before it was stored
        model.extra_config["energy_alignment"] = json.loads(align.read_text())
    stats = training_statistics(model)
    val = last_val_metrics(Path(run_model_dir).parent)
    evals = [{"dataset": r["dataset"], "metric": "force_mae_meV_per_A", "value": r["force_mae_meV_A"]}
             for r in accuracy if r["model"] not in ("chgnet", "sevennet-0") and "force_mae_meV_A" in r]
    card = {"title": name, "license": "mit", "tags": ["unihub", "interatomic-potential", "materials", "painn"],
            "datasets": stats["datasets"], "eval_results": evals,
            "body": card_body(name, model, stats, val, accuracy, speed, wbm, Path(run_model_dir))}
    out = Path(__file__).parent / "models" / name
    model.save(out, card=card)
    (out / "training_stats.json").write_text(json.dumps(stats, indent=1))
    files = {n: sha256_file(out / n) for n in ("model.safetensors", "config.json", "README.md")}
    reg = json.loads(REGISTRY_FILE.read_text())
    reg["models"][name] = {"location": f"package:models/{name}", "files": files, "kind": "universal",
                           "aliases": aliases, "default_head": model.config.default_fidelity,
                           "description": "PaiNN-style universal potential, heads "
                                          + ", ".join(model.config.fidelities)}
    atomic_write(REGISTRY_FILE, lambda p: Path(p).write_text(json.dumps(reg, indent=1) + "\n"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_model_dir")
    p.add_argument("--name", required=True)
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--accuracy")
    p.add_argument("--speed")
    p.add_argument("--wbm")
    a = p.parse_args()

    def load(path):
        return json.loads(Path(path).read_text()) if path else []

    print(release(Path(a.run_model_dir), a.name, load(a.accuracy), load(a.speed), load(a.wbm), a.alias))


if __name__ == "__main__":
    main()
