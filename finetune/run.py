"""``finetune(model, data, ...)``: adapt a universal model to new data with foundation's training loop,
optionally freezing stages, replaying pretraining frames and penalising drift (EWC); writes a zoo model."""

from __future__ import annotations

import collections
import copy
import dataclasses
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unihub.finetune import data as ftdata
from unihub.finetune import rundir
from unihub.finetune.config import FinetuneConfig
from unihub.finetune.ewc import EWCPenalty, fisher_diagonal
from unihub.finetune.forgetting import errors, measure, pretraining_val_sets, write_report
from unihub.finetune.heads import add_head, apply_e0, closest_head, predict_frames
from unihub.finetune.module import FinetuneDataModule, FinetuneModule
from unihub.finetune.replay import align_labels, label_alignment, pretrained_indices, pseudolabel, select_replay
from unihub.finetune.units import check_labels
from unihub.foundation.data import PackedMix, load_card
from unihub.foundation.data.datadir import MissingDataError, resolve_file
from unihub.foundation.data.frame import Frame
from unihub.foundation.data.splits import hold_out_groups
from unihub.foundation.errors import InputError
from unihub.foundation.files import atomic_write, sha256_file
from unihub.foundation.graph import collate
from unihub.foundation.loading import as_model
from unihub.foundation.served import UniversalModel
from unihub.foundation.training.config import LossConfig, OptimConfig, TrainConfig, TrainerConfig
from unihub.foundation.training.data import FrameSource, GraphDataset
from unihub.foundation.training.run import open_source, train

# settings the manifest leaves out: how fast or verbosely the run goes, and the data card (it declares the
# data's units, which are checked before the run starts)
_NOT_SETTINGS = {"threads", "progress", "data_card"}
CONFIG_FILE = "finetune-config.yaml"  # the run's settings, in OUT/run next to the manifest


def _base(model):
    return as_model(model)


def _made_here(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` less the generated datasets (teacher labels) not made on this machine, with a warning: no URL
    serves them, so replay draws from the public datasets alone until their card's command has been run."""
    missing = []
    for name in cfg.data.datasets or []:
        card = load_card(name)
        if card.role == "generated":
            try:
                for f in card.files:
                    resolve_file(card, f, progress=False)
            except MissingDataError:
                missing.append(name)
    if missing:
        warnings.warn(f"the pretraining data leaves out {', '.join(missing)}: generated here by teachers and not made "
                      "on this machine (its data card names the command); replay and forgetting use the other "
                      f"{len(cfg.data.datasets) - len(missing)} datasets", stacklevel=3)
        cfg.data.datasets = [d for d in cfg.data.datasets if d not in missing]
    return cfg


def pretraining_source(model, pretraining=None):
    """The frames a model was pretrained on: ``pretraining`` (a pack path, a ``PackedMix``/``FrameSource`` or a
    list of frames) or else the pack its training config names."""
    if pretraining is None:
        cfg = (getattr(model, "extra_config", None) or {}).get("training", {}).get("config")
        if cfg is None:
            raise ValueError("the base model does not record its training data; pass pretraining=<pack folder>")
        return open_source(_made_here(TrainConfig.from_dict(cfg)))
    if isinstance(pretraining, (str, os.PathLike)):
        return PackedMix(pretraining)
    if isinstance(pretraining, (list, tuple)):
        return FrameSource(pretraining, [f.split or "train" for f in pretraining])
    return pretraining


def _frame_of(source, i: int) -> Frame:
    return source.frame(i) if hasattr(source, "frame") else source.frames[i]


def _target_head(base, frames: Sequence[Frame], head: str | None, new_head_name: str, init_head: str | None):
    """(model to train, head name, head the new one starts from)."""
    if head == "new":
        init = init_head or closest_head(base, frames)
        return add_head(base, new_head_name, init), new_head_name.lower(), init
    if head is None:
        labels = sorted({f.fidelity for f in frames})
        if len(labels) != 1:
            raise ValueError(f"fine-tune frames carry several fidelities {labels}; "
                             "pass head=<one of the model's heads> or head='new'")
        head = labels[0]
    name = base.config.fidelities[base.fidelity_index(head)]
    return copy.deepcopy(base), name, name


def _fisher(module: FinetuneModule, source, indices: np.ndarray, cutoff: float, fidelity_map) -> dict:
    ds = GraphDataset(source, indices, cutoff, fidelity_map)

    def loss(k):
        batch = collate([ds[int(k)]])
        e, f, s = module._errors(module.model, batch, create_graph=True)
        return module._loss(batch, e, f, s)

    module.model.train()
    return fisher_diagonal(module.model, range(len(ds)), loss)


@dataclasses.dataclass
class _Data:
    """The fine-tune frames as read, and split: 'test' frames (with ``test``'s) held out, 'val' ones validate."""

    frames: list[Frame]  # all of the data's frames, as read
    extra: list[Frame]  # the frames of ``test``
    origin: str
    sha256: str
    train: list[Frame]
    val: list[Frame]
    held: list[Frame]


@dataclasses.dataclass
class _Head:
    """The model to train, the head it trains, the head that one starts from, and its E0."""

    work: object
    name: str
    init: str
    e0_set: dict
    e0_moves: dict  # element → eV the head's reference energy moved by


@dataclasses.dataclass
class _Pretraining:
    """Pretraining frames the run uses: their source, the indices pretraining drew, the replay pool."""

    source: object = None
    seen: np.ndarray | None = None
    replay: list[Frame] = dataclasses.field(default_factory=list)
    per_epoch: int = 0  # replay frames drawn each epoch


def finetune(model, data, config: FinetuneConfig | dict | None = None, *, test=None, pretraining=None,
             output: str | os.PathLike | None = None, resume: bool | None = None, overwrite: bool = False,
             **overrides) -> UniversalModel:
    """Fine-tune ``model`` (a zoo model or its name/path) on ``data`` and return the fine-tuned model.

    config: a ``FinetuneConfig`` (or its mapping); ``overrides`` replace its settings by field name or by
      the flat keyword names (``replay=2000, replay_ratio=0.5, ewc=1.0``); unknown names are refused.
    data: a file any reader knows, or a list of ASE ``Atoms``/``Frame``s; frames whose source split is
      'test' (and ``test``, if given) are held out for the before/after errors, 'val' frames validate.
    head: None (the head named by the data's fidelity), an existing head, or 'new' (a head
      ``new_head_name`` initialised from ``init_head`` or the closest head by force error).
    freeze / lr_factors: stages (see ``unihub.finetune.freeze``) to keep fixed / to scale the learning rate of.
    replay: number of pretraining frames in the replay pool (chosen by ``replay_select`` 'random' | 'fps'
      among the frames pretraining drew, per-dataset caps included, that pass ``replay_filter`` 'none' |
      'combinations' | 'inclusive' | 'exclusive');
      ``replay_ratio`` replay frames per fine-tune frame are drawn afresh each epoch (default: the whole pool).
      ``pseudolabel_replay`` relabels replay frames of another functional than the fine-tune head with the base model.
      ``replay_fidelity`` draws the pool from frames of one fidelity: 'any' (default), 'head' (the tuned head's,
      or the head a new one starts from: replay then rehearses the head users keep) or a fidelity's name.
    pretraining: the pretraining frames for replay, EWC and the forgetting numbers (``pretraining_source``).
    ewc: λ of an EWC penalty with a diagonal Fisher from ``ewc_frames`` pretraining frames (drawn like replay's).
    e0: 'estimate' (least squares on the base model's residuals), 'keep', or {element: eV}.
    eval_pretraining: frames per pretraining validation set for the forgetting numbers (0: skip).
    output: a folder to write the model (zoo format, card with base, data sha256, method, errors) into;
      its ``run/`` keeps the checkpoints, the settings as YAML (``CONFIG_FILE``) and a manifest (sha256 of
      data and test file, base model digest, settings). A rerun resumes only the same run; ``resume=True``
      insists on resuming, ``overwrite=True`` discards the folder's run; another run in the folder is
      refused (``finetune.rundir.prepare``).
    check_units: refuse labels that are not eV, eV/Å, eV/Å³ (``finetune.units.check_labels``).
    valid_fraction / patience: whole groups (relaxation runs) holding this fraction of the training frames
      validate; training stops after ``patience`` epochs without a better validation loss and keeps the best
      weights (``TrainerConfig.early_stopping_patience``).
    """
    if isinstance(config, dict):
        config = FinetuneConfig.from_dict(config)
    cfg = (config or FinetuneConfig()).with_overrides(**overrides)
    base = _base(model)
    base.eval()
    data_ = _prepare_data(base, data, test, cfg)
    head, data_ = _build_head(base, data_, cfg)
    pt = _pretraining_frames(base, head, data_, cfg, pretraining)
    run_dir, tmp, resumed = _claim_output(output, resume, overwrite, base, data_, test,
                                          _settings(cfg, pretraining), cfg)
    try:
        tuned, frozen, train_cfg = _train(base, head, data_, pt, cfg, run_dir, resumed)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return _report(base, tuned, frozen, head, data_, pt, cfg, train_cfg, output)


def _settings(cfg: FinetuneConfig, pretraining) -> dict:
    """The settings the run's manifest records, by their flat keyword names (what identifies the run)."""
    settings = {k: v for k, v in cfg.flat().items() if k not in _NOT_SETTINGS}
    settings["read_options"] = dict(cfg.read_options or {})
    settings["pretraining"] = pretraining  # a pack folder by name, frames by type
    return settings


def _prepare_data(base, data, test, cfg: FinetuneConfig) -> _Data:
    """Read, check and split the fine-tune data and the ``test`` frames."""
    read_options = cfg.read_options or {}
    frames, origin, data_sha = _read_data(data, base, cfg.fidelity, read_options, cfg.data_card)
    extra = ftdata.as_frames(test, cfg.fidelity, **read_options)[0] if test is not None else []
    held = [f for f in frames if f.split == "test"] + extra
    train = [f for f in frames if f.split not in ("test", "val")]
    val = [f for f in frames if f.split == "val"]
    if not train:
        raise ValueError("every fine-tune frame is marked val/test; nothing is left to train on")
    if cfg.valid_fraction and not val:
        train, val = hold_out_groups(train, cfg.valid_fraction, cfg.seed)
    if cfg.patience is not None and not val:
        raise InputError("early stopping (patience) watches the validation loss: set valid_fraction "
                         "(--valid-fraction), or mark frames of the data with the 'val' split")
    return _Data(frames, extra, origin, data_sha, train, val, held)


def _build_head(base, data: _Data, cfg: FinetuneConfig) -> tuple[_Head, _Data]:
    """The model to train with its target head and E0, and the frames relabelled onto that head; the
    labels' units are checked against it."""
    work, name, init = _target_head(base, data.train, cfg.head, cfg.new_head_name, cfg.init_head)
    # the tuned head is the one a user of the fine-tuned model means: its calculator, predict and a
    # distillation of it use it unless told otherwise
    work.config.default_fidelity = name
    relabel = lambda fs: [dataclasses.replace(f, fidelity=name, dataset="finetune") for f in fs]  # noqa: E731
    data = dataclasses.replace(data, train=relabel(data.train), val=relabel(data.val), held=relabel(data.held))
    if cfg.check_units:
        for group in (data.frames, data.extra):  # the test frames' errors are reported in the same units
            if group:
                check_labels(group, predict=lambda fs: predict_frames(work, fs, name))
    old_refs = work.reference_energies[work.fidelity_index(name)].clone()
    e0_set = apply_e0(work, name, cfg.e0, data.train)
    return _Head(work, name, init, e0_set, {z: v - float(old_refs[z]) for z, v in e0_set.items()}), data


def _pretraining_frames(base, head: _Head, data: _Data, cfg: FinetuneConfig, pretraining) -> _Pretraining:
    """The pretraining source (when replay, EWC or the forgetting numbers need it) and the replay pool."""
    r = cfg.replay
    out = _Pretraining()
    if r.frames or cfg.ewc.weight or cfg.eval_pretraining:
        out.source = pretraining_source(base, pretraining)
    if r.frames or cfg.ewc.weight:
        out.seen = pretrained_indices(base, out.source)
    if r.frames:
        elements = sorted({int(z) for f in data.train for z in f.numbers})
        # 'head': the frames that taught the head being tuned (a new head: the head it starts from)
        fidelity = (head.name if cfg.head != "new" else head.init) if r.fidelity == "head" else r.fidelity
        idx = select_replay(out.source, int(r.frames), elements, select=r.select, filter=r.filter,
                            fidelity=fidelity, model=head.work, seed=cfg.seed, candidates=out.seen)
        frames = [_frame_of(out.source, int(i)) for i in idx]
        # DFT labels onto the head scale pretraining used, and onto the moved E0 of a tuned existing head
        frames = align_labels(frames, label_alignment(base, out.source), {head.name: head.e0_moves})
        if r.pseudolabel:
            frames = pseudolabel(base, frames, keep_fidelity=None if cfg.head == "new" else head.name)
        out.replay = frames
    out.per_epoch = len(out.replay) if r.ratio is None else int(round(r.ratio * len(data.train)))
    return out


def _claim_output(output, resume: bool | None, overwrite: bool, base, data: _Data, test, settings: dict,
                  cfg: FinetuneConfig) -> tuple[Path, Path | None, bool]:
    """(run folder, a temporary folder to remove afterwards or None, whether an earlier run resumes):
    ``output/run`` once ``rundir.prepare`` accepts the run there (its settings then saved as YAML)."""
    if output is None:
        tmp = Path(tempfile.mkdtemp(prefix="unihub-finetune-"))
        return tmp, tmp, bool(resume)
    test_sha = None if test is None else (sha256_file(test) if isinstance(test, (str, os.PathLike))
                                          else ftdata.frames_sha256(data.extra))
    text = cfg.to_yaml()  # a setting YAML cannot hold is refused before the folder is claimed
    resumed = rundir.prepare(output, rundir.manifest(data.sha256, data.origin, base, test_sha, settings), resume,
                             overwrite)
    atomic_write(Path(output) / "run" / CONFIG_FILE, lambda p: Path(p).write_text(text))
    return Path(output) / "run", None, resumed


def _train(base, head: _Head, data: _Data, pt: _Pretraining, cfg: FinetuneConfig, run_dir: Path,
           resumed: bool) -> tuple[object, set, TrainConfig]:
    """(the tuned model, the frozen stages, the training config it ran with)."""
    train_cfg = _train_config(base, head.work, run_dir, bool(pt.replay), len(data.train) + pt.per_epoch, cfg)
    ewc = cfg.ewc
    pick = (np.random.default_rng(cfg.seed).choice(pt.seen, min(ewc.frames, len(pt.seen)), replace=False)
            if ewc.weight else None)
    tuned, frozen = _fit(train_cfg, head.work, (data.train, pt.replay, data.val), pt.per_epoch,
                         (cfg.freeze.stages, cfg.freeze.lr_factors), (ewc.weight, pick, pt.source), resumed)
    return tuned, frozen, train_cfg


def _report(base, tuned, frozen: set, head: _Head, data: _Data, pt: _Pretraining, cfg: FinetuneConfig,
            train_cfg: TrainConfig, output):
    """Before/after errors, the card and the method on the tuned model, saved to ``output`` if given."""
    r = cfg.replay
    method = {"head": head.name, "new_head": cfg.head == "new", "init_head": head.init, "freeze": sorted(frozen),
              "lr": cfg.lr, "lr_factors": cfg.freeze.lr_factors or {}, "epochs": cfg.epochs,
              "max_steps": cfg.max_steps, "batch_size": cfg.batch_size, "replay": len(pt.replay),
              "replay_per_epoch": pt.per_epoch if pt.replay else 0, "replay_select": r.select,
              "replay_filter": r.filter, "replay_fidelity": r.fidelity, "pseudolabel_replay": r.pseudolabel,
              # the pool depends on which pretraining datasets this machine holds (generated ones may be missing)
              "replay_datasets": dict(sorted(collections.Counter(f.dataset for f in pt.replay).items())),
              "ewc": cfg.ewc.weight,
              "e0": cfg.e0 if isinstance(cfg.e0, str) else "given",
              "e0_values": {str(z): v for z, v in head.e0_set.items()}, "train_frames": len(data.train),
              "val_frames": len(data.val), "patience": cfg.patience,
              "best": (tuned.extra_config or {}).get("training", {}).get("best")}
    eval_set, label = ((data.held, "test") if data.held else
                       ((data.val, "val") if data.val else (data.train, "train")))
    report = _errors_report(base, tuned, eval_set, label, len(data.held), (head.init, head.name),
                            pt.source if cfg.eval_pretraining else None, cfg.eval_pretraining, cfg.seed, output)
    tuned.name = f"{base_label(base)}-ft"
    tuned.extra_config = {**(getattr(base, "extra_config", None) or {}),
                          "finetune": {"base_model": base_label(base), "data": data.origin,
                                       "data_sha256": data.sha256, "method": method, "errors": report,
                                       "config": train_cfg.to_dict()}}
    tuned.card = finetune_card(base, data.origin, data.sha256, method, report)
    if output is not None:
        tuned.save(output)
    return tuned.eval()


def _fit(cfg: TrainConfig, work, parts: tuple, per_epoch: int, stages: tuple, ewc: tuple, resume: bool):
    """Train ``work`` on (fine-tune, replay, val) frames with (freeze, lr_factors) and (λ, pretraining
    indices, their source) for EWC; returns (the tuned model, the frozen stages)."""
    train_frames, replay_frames, val_frames = parts
    splits = ["train"] * (len(train_frames) + len(replay_frames)) + ["val"] * len(val_frames)
    source = FrameSource(train_frames + replay_frames + val_frames, splits)
    dm = FinetuneDataModule(source, list(work.config.fidelities), work.config.cutoff, cfg.data.batch_size, 32, 0,
                            cfg.seed, n_ft=len(train_frames), n_pool=len(replay_frames), per_epoch=per_epoch)
    module = FinetuneModule(cfg.model.to_dict(), cfg.loss.__dict__, cfg.optim.__dict__, list(source.datasets))
    frozen = module.setup_finetune(work.state_dict(), *stages)
    lam, pick, source_pt = ewc
    if lam:
        fsrc = FrameSource([_frame_of(source_pt, int(i)) for i in pick], ["train"] * len(pick))
        fmap = np.array([work.config.fidelities.index(f) for f in fsrc.fidelities])
        fisher = _fisher(module, fsrc, np.arange(len(fsrc)), work.config.cutoff, fmap)
        module.set_ewc(EWCPenalty(module.model, fisher, lam))
    model_dir = train(cfg, resume=resume, module=module, datamodule=dm)
    return UniversalModel.load_dir(Path(model_dir)), frozen


def _train_config(base, work, run_dir, replaying: bool, n_train: int, ft: FinetuneConfig) -> TrainConfig:
    """The training config of a fine-tune run; the loss weights default to the base's pretraining ones."""
    base_train = (getattr(base, "extra_config", None) or {}).get("training", {}).get("config", {})
    base_lr = base_train.get("optim", {}).get("lr")
    if replaying and base_lr and ft.lr > base_lr:
        # Adam steps every parameter a replay frame touches by ~lr, however small its gradient
        warnings.warn(f"fine-tuning with replay at lr {ft.lr:g}, above the base's pretraining peak {base_lr:g}: "
                      "in bench/finetune_study.py replay then forgot more than plain fine-tuning; lr <= "
                      f"{base_lr:g} is advised", stacklevel=4)
    cfg = TrainConfig(
        model=copy.deepcopy(work.config), loss=LossConfig(**{**base_train.get("loss", {}), **(ft.loss or {})}),
        optim=OptimConfig(lr=ft.lr, warmup_steps=10, ema_decay=ft.ema_decay, min_lr_factor=0.05),
        trainer=TrainerConfig(max_epochs=ft.epochs, max_steps=ft.max_steps or -1, threads=ft.threads,
                              progress=ft.progress, log_every_n_steps=max(1, min(10, n_train // ft.batch_size)),
                              early_stopping_patience=ft.patience),
        output=str(run_dir), seed=ft.seed)
    cfg.data.batch_size = ft.batch_size
    return cfg


def _read_data(data, base, fidelity: str | None, read_options: dict | None, data_card) -> tuple[list, str, str]:
    """(frames, where they came from, sha256) of the fine-tune data, refused if a card or the frames'
    info declares foreign units, a frame lacks its energy or the base never saw an element."""
    frames, origin = ftdata.as_frames(data, fidelity, **(read_options or {}))
    data_sha = sha256_file(data) if isinstance(data, (str, os.PathLike)) else ftdata.frames_sha256(frames)
    if data_card is not None:
        ftdata.check_units(ftdata.declared_units(data_card), f"data card {data_card}")
    for f in frames:  # a user's extxyz/Atoms can declare units in its info
        if "units" in f.info and isinstance(f.info["units"], dict):
            ftdata.check_units(f.info["units"], f"frame info of {origin}")
            break
    ftdata.check_frames(frames, base)
    return frames, origin, data_sha


def _errors_report(base, tuned, eval_set: list, label: str, n_test: int, heads: tuple[str, str], source_pt,
                   eval_pretraining: int, seed: int, output) -> dict:
    """Before/after errors on ``eval_set`` (base through its head ``heads[0]``, the tuned model through
    ``heads[1]``) and, with ``source_pt``, on pretraining validation sets (written to ``output/report``)."""
    init, head_name = heads
    as_init = [dataclasses.replace(f, fidelity=init) for f in eval_set]
    report = {"test_frames": n_test, "finetune_set": label, "before": errors(base, as_init, init),
              "after": errors(tuned, eval_set, head_name)}
    if source_pt is not None:
        sets = pretraining_val_sets(source_pt, eval_pretraining, seed)
        res = {"base": measure(base, as_init, init, sets), "finetuned": measure(tuned, eval_set, head_name, sets)}
        report["pretrain_before"] = dict(res["base"]["pretrain"])
        report["pretrain_after"] = dict(res["finetuned"]["pretrain"])
        if output is not None:
            write_report(res, Path(output) / "report", title=f"Forgetting of {base_label(base)}")
    return report


def base_label(model) -> str:
    return getattr(model, "name", "") or "unnamed-base"


def finetune_card(base, origin: str, sha: str, method: dict, report: dict) -> dict:
    """Card metadata (zoo ``write_card``) naming base model, data + sha256, method and before/after errors."""
    b, a, label = report["before"], report["after"], report["finetune_set"]
    lines = [f"Fine-tuned from `{base_label(base)}` on `{origin}` (sha256 `{sha}`), "
             f"{method['train_frames']} training frames, head `{method['head']}`"
             + (f" (new, initialised from `{method['init_head']}`)" if method["new_head"] else "") + ".", "",
             "## Method", "", *(f"- {k}: {v}" for k, v in method.items()), "",
             f"## Errors on the fine-tune {label} set ({report['test_frames'] or 'no'} held-out frames)", "",
             "| | energy MAE (meV/atom) | force MAE (meV/Å) |", "|---|---|---|",
             f"| before ({base_label(base)}, head {method['init_head']}) | {b['energy_mev_atom']:.1f} | "
             f"{b['forces_mev_a']:.1f} |",
             f"| after | {a['energy_mev_atom']:.1f} | {a['forces_mev_a']:.1f} |"]
    if "pretrain_before" in report:
        lines += ["", "## Pretraining validation sets (force MAE, meV/Å)", "", "| set | before | after |",
                  "|---|---|---|"]
        for k, v in report["pretrain_before"].items():
            lines.append(f"| {k} | {v['forces_mev_a']:.1f} | {report['pretrain_after'][k]['forces_mev_a']:.1f} |")
    evals = [{"dataset": f"finetune-{label}", "metric": f"{w}_{q}", "value": r[q], "split": label}
             for w, r in (("before", b), ("after", a)) for q in ("energy_mev_atom", "forces_mev_a")
             if np.isfinite(r[q])]
    return {"title": f"{base_label(base)} fine-tuned on {Path(origin).name}", "base_model": base_label(base),
            "license": (getattr(base, "card", None) or {}).get("license", "mit"), "tags": ["unihub", "finetuned"],
            "eval_results": evals, "body": "\n".join(lines)}
