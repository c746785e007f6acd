"""``train(config)``: build data, model and trainer; fit references; resume; export EMA weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from ase.data import chemical_symbols
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from unihub.foundation.data import read_frames
from unihub.foundation.data.cards import cards_dir
from unihub.foundation.data.pack import PackedMix, pack_mix
from unihub.foundation.errors import InputError
from unihub.foundation.files import atomic_write, cache_dir
from unihub.foundation.model.io import load_potential, save_potential
from unihub.foundation.training.checkpoint import AtomicCheckpointIO
from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.data import FrameSource, PotentialDataModule, frame_column
from unihub.foundation.training.module import PotentialModule
from unihub.foundation.training.references import fit_references


def open_source(cfg: TrainConfig):
    """The frame source a config names: an existing pack, or its datasets packed into the cache."""
    if cfg.data.pack:
        return PackedMix(cfg.data.pack)
    if cfg.data.files:
        return FrameSource(read_files(cfg.data.files))
    if not cfg.data.datasets:
        raise InputError("the config names no data: set data.datasets (data-card names), data.files or data.pack")

    # the key covers the cards' text, so editing a card (units, splits) never reuses a stale pack
    names = sorted(cfg.data.datasets)
    cards = [(cards_dir() / f"{n}.md").read_text() for n in names]
    key = hashlib.sha256(json.dumps([names, cards]).encode()).hexdigest()[:12]
    path = cache_dir() / "packs" / f"mix-{key}"
    if not (path / "meta.json").exists():
        pack_mix(sorted(cfg.data.datasets), path)
    return PackedMix(path)


def read_files(specs: list) -> list:
    """Frames of user files named in a config (``path`` strings or dicts with reader options)."""
    frames = []
    for spec in specs:
        spec = {"path": spec} if isinstance(spec, str) else dict(spec)
        frames += read_frames(spec.pop("path"), spec.pop("format", None), **spec)
    return frames


def _cap_per_dataset(source, indices: np.ndarray, cap: int | dict | None, seed: int) -> np.ndarray:
    """At most ``cap`` frames of each dataset; a dict caps by dataset name (``default`` for the rest, None: all)."""
    if cap is None:
        return indices
    caps = cap if isinstance(cap, dict) else {"default": cap}
    ds = frame_column(source, indices)
    rng = np.random.default_rng(seed)
    keep = []
    for d in np.unique(ds):
        idx = indices[ds == d]
        n = caps.get(source.datasets[int(d)], caps.get("default"))
        keep.append(idx if n is None or len(idx) <= n else rng.choice(idx, n, replace=False))
    return np.sort(np.concatenate(keep))


class _CappedSource:
    """A view of a source whose split indices are capped per dataset."""

    def __init__(self, source, cap: int | dict | None, seed: int) -> None:
        self._s, self._cap, self._seed = source, cap, seed
        self.fidelities, self.datasets = source.fidelities, source.datasets
        if hasattr(source, "array"):  # a packed mix's memory-mapped columns pass through (frame_column)
            self.array = source.array
        self._cache: dict[str, np.ndarray] = {}

    def indices(self, split: str) -> np.ndarray:
        if split not in self._cache:
            self._cache[split] = _cap_per_dataset(self._s, self._s.indices(split), self._cap, self._seed)
        return self._cache[split]

    def get(self, i: int) -> dict:
        return self._s.get(i)

    def __len__(self) -> int:
        return len(self._s)


def _forces_also_on(spec: dict, source, heads: list[str]) -> dict[tuple[int, int], int]:
    """``data.forces_also_on`` ({dataset: {fidelity: head}}) as (dataset, fidelity) indices → head index."""
    out = {}
    for name, pairs in spec.items():
        if name not in source.datasets:
            raise InputError(f"data.forces_also_on names dataset {name!r}, which is not in the data "
                             f"(datasets: {list(source.datasets)})")
        if not isinstance(pairs, dict):
            raise InputError(f"data.forces_also_on.{name} must map the dataset's fidelity to a head, "
                             f"e.g. {{pbe: mptrj}}; got {pairs!r}")
        for fid, head in pairs.items():
            if fid not in source.fidelities:
                raise InputError(f"data.forces_also_on.{name}: no data has fidelity {fid!r} "
                                 f"(fidelities: {list(source.fidelities)})")
            if head not in heads:
                raise InputError(f"data.forces_also_on.{name}: the model has no head {head!r} (heads: {heads})")
            out[source.datasets.index(name), source.fidelities.index(fid)] = heads.index(head)
    return out


def _save_alignment(path: Path, source, ref) -> dict:
    """The per-(dataset, fidelity) label shifts, per element (eV/atom), for the record and for fine-tuning."""
    n_src = len(source.fidelities)
    table = {}
    for k in np.flatnonzero(np.abs(ref.shift).sum(axis=1) > 0):
        key = f"{source.datasets[k // n_src]}/{source.fidelities[k % n_src]}"
        table[key] = {chemical_symbols[z]: round(float(v), 6) for z, v in enumerate(ref.shift[k]) if v}
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(table, indent=1)))
    return table


BEST = "best"  # the best-validation checkpoint's folder, apart from checkpoints/ where a resume looks


def _early_stopping(t, source, out: Path) -> list:
    """Early stopping on the validation loss and a checkpoint of the best weights (none without a patience)."""
    if t.early_stopping_patience is None:
        return []
    if t.early_stopping_patience < 1:
        raise InputError(f"trainer.early_stopping_patience must be >= 1 validations, got {t.early_stopping_patience}")
    if not len(source.indices("val")):
        raise InputError("early stopping watches the validation loss, and the data has no validation frames: give "
                         "some frames the 'val' split (fine-tuning: valid_fraction) or unset early_stopping_patience")
    return [EarlyStopping(monitor="val/loss", patience=t.early_stopping_patience, mode="min", check_finite=True),
            ModelCheckpoint(dirpath=out / BEST, filename="best", monitor="val/loss", mode="min", save_top_k=1,
                            auto_insert_metric_name=False)]


def _restore_best(module: PotentialModule, callbacks: list) -> dict:
    """Load the best-validation EMA weights into ``module`` (from the early-stopping checkpoint); what was loaded."""
    best = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor == "val/loss"), None)
    if best is None or not best.best_model_path:
        return {}
    ckpt = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    module.ema.load_state_dict({k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("ema.")})
    return {"epoch": int(ckpt["epoch"]), "global_step": int(ckpt["global_step"]),
            "val_loss": float(best.best_model_score)}


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint in ``directory``: the epoch and the every-N-steps callbacks each keep a
    ``last`` file (Lightning names the second ``last-v1.ckpt``), so either may hold the latest state."""
    found = [p for p in Path(directory).glob("*.ckpt") if not p.name.startswith(".")]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def run_references(cfg: TrainConfig, source, fidelity_map: np.ndarray):
    """The reference energies and label shifts a run with ``cfg`` fits on ``source``'s train split
    (deterministic: fine-tuning refits them to put replayed labels where pretraining had them)."""
    heads = list(cfg.model.fidelities)
    datasets = list(source.datasets)
    anchors = {heads.index(h): datasets.index(d) for h, d in cfg.data.energy_anchors.items()
               if h in heads and d in datasets}
    unaligned = {datasets.index(d) for d in cfg.data.unaligned if d in datasets}
    return fit_references(source, source.indices("train"), fidelity_map, len(heads),
                          align=cfg.data.align_energies, anchors=anchors, unaligned=unaligned)


def _init_network(module: PotentialModule, directory: str) -> None:
    """Start ``module`` from a saved potential's network weights (its fitted reference buffers are not taken).

    The run may add fidelity heads: a head the saved network has keeps its embedding, a new one starts
    from the saved default head's embedding (its nearest functional, e.g. PBE for MPtrj's GGA).
    """
    base = load_potential(directory)
    # neither the norm's smoothing constant, the short-range switch nor the head list changes the shape of a
    # shared parameter
    mine, theirs = module.model.config.to_dict(), base.config.to_dict()
    for key in ("vector_norm_eps", "inner_switch", "fidelities", "default_fidelity"):
        mine.pop(key), theirs.pop(key)
    if theirs != mine:
        raise InputError(f"init_from {directory}: its model config differs from this run's model section")
    old, new = base.config.fidelities, module.model.config.fidelities
    rows = [old.index(f) if f in old else old.index(base.config.default_fidelity) for f in new]
    state = {k: v for k, v in base.state_dict().items() if k not in ("reference_energies", "seen_elements")}
    state["fidelity_embedding.weight"] = state["fidelity_embedding.weight"][rows].clone()
    for net in (module.model, module.ema):
        net.load_state_dict(state, strict=False)


# trainer settings a resumed run may change (more epochs, another machine); everything else must match
_RESUMABLE = ("max_epochs", "max_steps", "max_time", "devices", "num_nodes", "strategy", "accelerator", "threads",
              "progress", "log_every_n_steps", "checkpoint_every_n_steps")


def _run_settings(cfg: TrainConfig) -> dict:
    """The run's settings as flat ``section.key`` entries, less the output folder and resumable trainer keys."""
    d = json.loads(json.dumps(cfg.to_dict(), default=str))
    d.pop("output", None)
    flat = {}
    for section, value in d.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for k, v in items:
            if not (section == "trainer" and k in _RESUMABLE):
                flat[f"{section}.{k}" if k else section] = v
    return flat


def check_resume(out: Path, cfg: TrainConfig, resuming: bool) -> None:
    """Record this run's settings in ``out/train_settings.json``; refuse to resume a run made with others."""
    path, mine = out / "train_settings.json", _run_settings(cfg)
    if resuming and path.is_file():
        theirs = json.loads(path.read_text())
        changed = [f"{k}: {theirs.get(k)!r} -> {mine.get(k)!r}" for k in sorted(set(mine) | set(theirs))
                   if theirs.get(k) != mine.get(k)]
        if changed:
            raise InputError(f"{out} holds a training run made with other settings ({'; '.join(changed[:6])}); "
                             "resuming it would mix the two: use another output folder, or --restart to discard "
                             "its checkpoints")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(mine, indent=1, sort_keys=True)))


def train(cfg: TrainConfig, source=None, resume: bool = True, *, module: PotentialModule | None = None,
          datamodule: PotentialDataModule | None = None, callbacks: tuple = ()) -> Path:
    """Run (or resume) a training; returns the directory of the exported EMA model.

    ``module`` and ``datamodule`` replace the ones built from ``cfg`` (fine-tuning passes pretrained
    weights and its own sampling); a given module keeps its reference energies. ``callbacks`` are
    added to the trainer's.
    """
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    out = Path(cfg.output)
    heads = list(cfg.model.fidelities)
    if datamodule is None:
        source = source if source is not None else open_source(cfg)
        source = _CappedSource(source, cfg.data.max_frames_per_dataset, cfg.seed)
        dm = PotentialDataModule(source, heads, cfg.model.cutoff, cfg.data.batch_size, cfg.data.val_batch_size,
                                 cfg.data.num_workers, cfg.seed,
                                 forces_also_on=_forces_also_on(cfg.data.forces_also_on, source, heads))
    else:
        dm, source = datamodule, datamodule.source
    pretrained = module is not None
    if module is None:
        module = PotentialModule(cfg.model.to_dict(), cfg.loss.__dict__, cfg.optim.__dict__, list(source.datasets))
    last = latest_checkpoint(out / "checkpoints")
    ckpt_path = str(last) if resume and last is not None else None
    check_resume(out, cfg, ckpt_path is not None)
    ref = None
    if not pretrained:
        ref = run_references(cfg, source, dm.fidelity_map)
        dm.energy_shift = ref.shift  # also on resume: the fit is deterministic and the loaders need it
        if ckpt_path is None:
            if cfg.init_from:
                _init_network(module, cfg.init_from)
            for net in (module.model, module.ema):
                net.reference_energies.copy_(torch.as_tensor(ref.head))
                net.seen_elements.copy_(torch.as_tensor(ref.seen))
                if not cfg.init_from:  # a started network keeps the scale its weights were trained with
                    net.energy_scale.fill_(ref.force_rms)
    t = cfg.trainer
    callbacks = [
        ModelCheckpoint(dirpath=out / "checkpoints", filename="epoch{epoch:03d}", save_last=True, save_top_k=-1,
                        every_n_epochs=1, auto_insert_metric_name=False),
        LearningRateMonitor(logging_interval="step"),
        *callbacks,
        *_early_stopping(t, source, out),
    ]
    if t.checkpoint_every_n_steps:
        callbacks.append(ModelCheckpoint(dirpath=out / "checkpoints", filename="step{step:07d}", save_last=True,
                                         every_n_train_steps=t.checkpoint_every_n_steps, save_top_k=1,
                                         monitor="step", mode="max", auto_insert_metric_name=False))
    trainer = pl.Trainer(
        default_root_dir=out, max_epochs=t.max_epochs, max_steps=t.max_steps, max_time=t.max_time,
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, gradient_clip_val=cfg.optim.grad_clip, log_every_n_steps=t.log_every_n_steps,
        callbacks=callbacks, plugins=[AtomicCheckpointIO()], inference_mode=False,
        use_distributed_sampler=False, enable_progress_bar=t.progress, deterministic=False,
        logger=[CSVLogger(out, name="logs", version=0), TensorBoardLogger(out, name="tb", version=0)],
    )
    trainer.fit(module, dm, ckpt_path=ckpt_path)
    best = _restore_best(module, callbacks)
    model_dir = out / "model"
    if trainer.is_global_zero:
        alignment = _save_alignment(out / "energy_alignment.json", source, ref) if ref is not None else {}
        training = {"config": cfg.to_dict(), "global_step": trainer.global_step, "epochs": trainer.current_epoch}
        if best:
            training["best"] = best  # the exported weights: the best validation, not the last step
        save_potential(module.ema, model_dir, extra={"training": training, "energy_alignment": alignment})
    return model_dir
