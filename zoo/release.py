"""Release a shipped zoo model: its card is rendered from files next to its weights, every checksum and
its registry entry are recomputed, so editing a card is one command.

A model folder ``zoo/models/NAME`` holds ``model.safetensors`` and ``config.json`` (written from a
trained run with ``--from``), ``card.md`` (prose people write: intended use, how to use, training
data, limitations, citation), and optionally ``figures.json`` (measured tables: title, command,
columns, rows) and ``training_stats.json`` (frames per element and datasets per head of its pack).

    unihub release NAME [--from runs/NAME/model] [--alias universal]
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from unihub.foundation.card import write_card
from unihub.foundation.errors import InputError, MissingInputError
from unihub.foundation.files import MANIFEST, atomic_write, sha256_file
from unihub.foundation.served import UniversalModel
from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.run import open_source
from unihub.zoo.registry import REGISTRY_FILE

MODELS = Path(__file__).parent / "models"
CARD_SECTIONS = ("## Intended use", "## How to use", "## Training data", "## Limitations", "## Citation")


def training_statistics(model: UniversalModel) -> dict:
    """Frames per element and datasets per head, from the pack the model was trained on."""
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


def sig3(value) -> str:
    """A figure to 3 significant figures (integers of 4+ digits stay whole); text passes through."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{float(f'{value:.3g}'):g}"


def figure_tables(figures: list[dict]) -> list[str]:
    """Markdown for the measured tables: each with its title, the command that measured it, and rows."""
    lines: list[str] = []
    for fig in figures:
        cols = fig["columns"]
        lines += [f"### {fig['title']}", "", f"Measured with `{fig['command']}`" + (f" ({fig['note']})" if
                  fig.get("note") else "") + ".", "", "| " + " | ".join(cols) + " |",
                  "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(sig3(row.get(c, "–")) for c in cols) + " |" for row in fig["rows"]]
        lines.append("")
    return lines


def card_body(name: str, model: UniversalModel, text: str, stats: dict, figures: list[dict]) -> str:
    """The README body: facts read off the model and its pack, the people's text, the measured tables."""
    missing = [s for s in CARD_SECTIONS if s not in text]
    if missing:
        raise InputError(f"card.md of {name} lacks the sections {missing}")
    c = model.config
    lines = [f"Universal interatomic potential `{name}`: a PaiNN-style graph network ({model.num_parameters():,} "
             f"parameters, cutoff {c.cutoff} Å, {c.layers} interaction blocks, {c.features} scalar / "
             f"{c.vector_features} vector channels), element embeddings for Z = 1..{c.max_z}, one fidelity head per "
             f"DFT functional: {', '.join(c.fidelities)} (default `{c.default_fidelity}`).", "", text.strip(), ""]
    if stats:
        lines += ["## Training frames per head", "", "| head | datasets (training frames in the pack) |", "|---|---|"]
        lines += [f"| {h} | " + ", ".join(f"{d} ({n})" for d, n in sorted(cnt.items())) + " |"
                  for h, cnt in stats["datasets_per_head"].items()]
        lines += ["", "Elements (training frames containing the element): "
                  + ", ".join(f"{el} {n}" for el, n in stats["frames_per_element"].items()), ""]
    if figures:
        lines += ["## Measured figures", "", *figure_tables(figures)]
    return "\n".join(lines)


def render(name: str, aliases: list[str] | None = None) -> Path:
    """Render ``README.md`` of ``zoo/models/NAME`` and recompute its checksums and registry entry."""
    folder = MODELS / name
    if not (folder / "card.md").exists():
        raise MissingInputError(f"{folder}/card.md is missing: write the model's card text there first")
    model = UniversalModel.load_dir(folder)
    stats = _json(folder / "training_stats.json", {})
    figures = _json(folder / "figures.json", [])
    # a headline names the dataset column of its table, or one dataset for the whole table
    evals = [{"dataset": fig["headline"].get("dataset_name") or r[fig["headline"]["dataset"]],
              "metric": fig["headline"]["metric"], "value": r[fig["headline"]["column"]]}
             for fig in figures if fig.get("headline") for r in fig["rows"]
             if r.get(fig["headline"].get("model_column", "model")) == name]
    card = {"title": name, "license": "mit", "tags": ["unihub", "interatomic-potential", "materials", "painn"],
            "datasets": stats.get("datasets"), "eval_results": evals,
            "body": card_body(name, model, (folder / "card.md").read_text(), stats, figures)}
    write_card(folder, card)
    files = {n: sha256_file(folder / n) for n in ("model.safetensors", "config.json", "README.md")}
    atomic_write(folder / MANIFEST, lambda p: Path(p).write_text(json.dumps(files, indent=1) + "\n"))
    reg = json.loads(REGISTRY_FILE.read_text())
    entry = reg["models"].get(name, {})
    aliases = list(entry.get("aliases", [])) if aliases is None else aliases
    for other, e in reg["models"].items():  # an alias names one model
        if other != name:
            e["aliases"] = [a for a in e.get("aliases", []) if a not in aliases]
    heads = ", ".join(model.config.fidelities)
    reg["models"][name] = {"location": f"package:models/{name}", "files": files, "kind": "universal",
                           "aliases": aliases, "default_head": model.config.default_fidelity,
                           "description": f"PaiNN-style universal potential, heads {heads}"}
    atomic_write(REGISTRY_FILE, lambda p: Path(p).write_text(json.dumps(reg, indent=1) + "\n"))
    return folder


def release(name: str, run_model_dir: Path | None = None, aliases: list[str] | None = None) -> Path:
    """Copy a trained run's weights into ``zoo/models/NAME`` (with its pack statistics), then :func:`render`."""
    if run_model_dir is not None:
        if not (Path(run_model_dir) / "config.json").is_file():
            raise MissingInputError(f"--from {run_model_dir}: no trained model there (config.json + "
                                    "model.safetensors); name the run's model folder")
        model = UniversalModel.load_dir(Path(run_model_dir))
        model.name = name
        folder = MODELS / name
        folder.mkdir(parents=True, exist_ok=True)
        model._write_files(folder)
        stats = training_statistics(model)
        atomic_write(folder / "training_stats.json", lambda p: Path(p).write_text(json.dumps(stats, indent=1)))
    return render(name, aliases)


def _json(path: Path, default):
    return json.loads(path.read_text()) if path.exists() else default
