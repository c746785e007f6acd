"""``finetune(model, data, ...)``: adapt a universal model to new data with foundation's training loop,
optionally freezing stages, replaying pretraining frames and penalising drift (EWC); writes a zoo model."""

from __future__ import annotations

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
from unihub.finetune.ewc import EWCPenalty, fisher_diagonal
from unihub.finetune.forgetting import errors, measure, pretraining_val_sets, write_report
from unihub.finetune.heads import add_head, apply_e0, closest_head, predict_frames
from unihub.finetune.module import FinetuneDataModule, FinetuneModule
from unihub.finetune.replay import align_labels, label_alignment, pretrained_indices, pseudolabel, select_replay
from unihub.finetune.units import check_labels
from unihub.foundation.data.frame import Frame
from unihub.foundation.files import sha256_file
from unihub.foundation.graph import collate
from unihub.foundation.training.config import LossConfig, OptimConfig, TrainConfig, TrainerConfig
from unihub.foundation.training.data import FrameSource, GraphDataset

# arguments that name the run's inputs (hashed apart), its folder, or only how fast or verbosely it runs
_NOT_SETTINGS = {"model", "data", "test", "output", "threads", "progress", "resume", "overwrite", "data_card"}


def _base(model):
    if isinstance(model, (str, os.PathLike)):
        from unihub.zoo import load_model

        return load_model(model)
    return model


def pretraining_source(model, pretraining=None):
    """The frames a model was pretrained on: ``pretraining`` (a pack path, a ``PackedMix``/``FrameSource`` or a
    list of frames) or else the pack its training config names."""
    if pretraining is None:
        from unihub.foundation.training.run import open_source

        cfg = (getattr(model, "extra_config", None) or {}).get("training", {}).get("config")
        if cfg is None:
            raise ValueError("the base model does not record its training data; pass pretraining=<pack folder>")
        return open_source(TrainConfig.from_dict(cfg))
    if isinstance(pretraining, (str, os.PathLike)):
        from unihub.foundation.data import PackedMix

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


def finetune(model, data, *, head: str | None = None, new_head_name: str = "finetune", init_head: str | None = None,
             freeze=None, lr_factors: dict | None = None, replay: int = 0, replay_ratio: float | None = None,
             replay_select: str = "random", replay_filter: str = "combinations", pseudolabel_replay: bool = False,
             pretraining=None, ewc: float = 0.0, ewc_frames: int = 64, e0="estimate", epochs: int = 30,
             max_steps: int | None = None, lr: float = 1e-3, batch_size: int = 4, ema_decay: float = 0.99,
             loss: dict | None = None, test=None, data_card=None, check_units: bool = True,
             eval_pretraining: int = 0, output: str | os.PathLike | None = None, fidelity: str | None = None,
             read_options: dict | None = None, seed: int = 0, threads: int | None = 1, progress: bool = False,
             resume: bool | None = None, overwrite: bool = False):
    """Fine-tune ``model`` (a zoo model or its name/path) on ``data`` and return the fine-tuned model.

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
    ewc: λ of an EWC penalty with a diagonal Fisher from ``ewc_frames`` pretraining frames (drawn like replay's).
    e0: 'estimate' (least squares on the base model's residuals), 'keep', or {element: eV}.
    eval_pretraining: frames per pretraining validation set for the forgetting numbers (0: skip).
    output: a folder to write the model (zoo format, card with base, data sha256, method, errors) into;
      its ``run/`` keeps the checkpoints and a manifest (sha256 of data and test file, base model digest,
      settings). A rerun resumes only the same run; ``resume=True`` insists on resuming, ``overwrite=True``
      discards the folder's run; another run in the folder is refused (``finetune.rundir.prepare``).
    check_units: refuse labels that are not eV, eV/Å, eV/Å³ (``finetune.units.check_labels``).
    """
    locals_settings = {k: v for k, v in locals().items() if k not in _NOT_SETTINGS}
    locals_settings["read_options"] = dict(read_options or {})  # the CLI passes {} where the API defaults to None
    base = _base(model)
    base.eval()
    frames, origin, data_sha = _read_data(data, base, fidelity, read_options, data_card)
    extra = ftdata.as_frames(test, fidelity, **(read_options or {}))[0] if test is not None else []
    held = [f for f in frames if f.split == "test"] + extra
    train_frames = [f for f in frames if f.split not in ("test", "val")]
    val_frames = [f for f in frames if f.split == "val"]
    if not train_frames:
        raise ValueError("every fine-tune frame is marked val/test; nothing is left to train on")

    work, head_name, init = _target_head(base, train_frames, head, new_head_name, init_head)
    relabel = lambda fs: [dataclasses.replace(f, fidelity=head_name, dataset="finetune") for f in fs]  # noqa: E731
    train_frames, val_frames, held = relabel(train_frames), relabel(val_frames), relabel(held)
    if check_units:
        for group in (frames, extra):  # the test frames' errors are reported in the same units
            if group:
                check_labels(group, predict=lambda fs: predict_frames(work, fs, head_name))
    old_refs = work.reference_energies[work.fidelity_index(head_name)].clone()
    e0_set = apply_e0(work, head_name, e0, train_frames)
    e0_moves = {z: v - float(old_refs[z]) for z, v in e0_set.items()}

    elements = sorted({int(z) for f in train_frames for z in f.numbers})
    replay_frames: list[Frame] = []
    source_pt = None
    if replay or ewc or eval_pretraining:
        source_pt = pretraining_source(base, pretraining)
    seen = pretrained_indices(base, source_pt) if replay or ewc else None
    if replay:
        idx = select_replay(source_pt, int(replay), elements, select=replay_select, filter=replay_filter,
                            model=work, seed=seed, candidates=seen)
        replay_frames = [_frame_of(source_pt, int(i)) for i in idx]
        # DFT labels onto the head scale pretraining used, and onto the moved E0 of a tuned existing head
        replay_frames = align_labels(replay_frames, label_alignment(base, source_pt), {head_name: e0_moves})
        if pseudolabel_replay:
            replay_frames = pseudolabel(base, replay_frames, keep_fidelity=None if head == "new" else head_name)
    per_epoch = len(replay_frames) if replay_ratio is None else int(round(replay_ratio * len(train_frames)))

    tmp = None
    if output is None:
        tmp = Path(tempfile.mkdtemp(prefix="unihub-finetune-"))
    else:
        test_sha = None if test is None else (sha256_file(test) if isinstance(test, (str, os.PathLike))
                                              else ftdata.frames_sha256(extra))
        resume = rundir.prepare(output, rundir.manifest(data_sha, origin, base, test_sha, locals_settings), resume,
                                overwrite)
    run_dir = Path(output) / "run" if output is not None else tmp
    cfg = _train_config(base, work, run_dir, bool(replay_frames), len(train_frames) + per_epoch,
                        dict(lr=lr, ema_decay=ema_decay, epochs=epochs, max_steps=max_steps, threads=threads,
                             progress=progress, batch_size=batch_size, loss=loss, seed=seed))

    ewc_pick = (np.random.default_rng(seed).choice(seen, min(ewc_frames, len(seen)), replace=False)
                if ewc else None)
    try:
        tuned, frozen = _fit(cfg, work, (train_frames, replay_frames, val_frames), per_epoch, (freeze, lr_factors),
                             (ewc, ewc_pick, source_pt), bool(resume))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    method = {"head": head_name, "new_head": head == "new", "init_head": init, "freeze": sorted(frozen),
              "lr": lr, "lr_factors": lr_factors or {}, "epochs": epochs, "max_steps": max_steps,
              "batch_size": batch_size, "replay": len(replay_frames), "replay_per_epoch": per_epoch if replay_frames
              else 0, "replay_select": replay_select, "replay_filter": replay_filter,
              "pseudolabel_replay": pseudolabel_replay, "ewc": ewc, "e0": e0 if isinstance(e0, str) else "given",
              "e0_values": {str(z): v for z, v in e0_set.items()}, "train_frames": len(train_frames)}
    eval_set, label = (held, "test") if held else ((val_frames, "val") if val_frames else (train_frames, "train"))
    report = _errors_report(base, tuned, eval_set, label, len(held), (init, head_name),
                            source_pt if eval_pretraining else None, eval_pretraining, seed, output)
    tuned.name = f"{base_label(base)}-ft"
    tuned.extra_config = {**(getattr(base, "extra_config", None) or {}),
                          "finetune": {"base_model": base_label(base), "data": origin, "data_sha256": data_sha,
                                       "method": method, "errors": report, "config": cfg.to_dict()}}
    tuned.card = finetune_card(base, origin, data_sha, method, report)
    if output is not None:
        tuned.save(output)
    return tuned.eval()


def _fit(cfg: TrainConfig, work, parts: tuple, per_epoch: int, stages: tuple, ewc: tuple, resume: bool):
    """Train ``work`` on (fine-tune, replay, val) frames with (freeze, lr_factors) and (λ, pretraining
    indices, their source) for EWC; returns (the tuned model, the frozen stages)."""
    from unihub.foundation.training.run import train
    from unihub.zoo.models import UniversalModel

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


def _train_config(base, work, run_dir, replaying: bool, n_train: int, o: dict) -> TrainConfig:
    """The training config of a fine-tune run (``o``: lr, ema_decay, epochs, max_steps, threads, progress,
    batch_size, loss overrides, seed); the loss weights default to the base's pretraining ones."""
    base_train = (getattr(base, "extra_config", None) or {}).get("training", {}).get("config", {})
    base_lr = base_train.get("optim", {}).get("lr")
    if replaying and base_lr and o["lr"] > base_lr:
        # Adam steps every parameter a replay frame touches by ~lr, however small its gradient
        warnings.warn(f"fine-tuning with replay at lr {o['lr']:g}, above the base's pretraining peak {base_lr:g}: "
                      "in bench/finetune_study.py replay then forgot more than plain fine-tuning; lr <= "
                      f"{base_lr:g} is advised", stacklevel=3)
    cfg = TrainConfig(
        model=copy.deepcopy(work.config), loss=LossConfig(**{**base_train.get("loss", {}), **(o["loss"] or {})}),
        optim=OptimConfig(lr=o["lr"], warmup_steps=10, ema_decay=o["ema_decay"], min_lr_factor=0.05),
        trainer=TrainerConfig(max_epochs=o["epochs"], max_steps=o["max_steps"] or -1, threads=o["threads"],
                              progress=o["progress"], log_every_n_steps=max(1, min(10, n_train // o["batch_size"]))),
        output=str(run_dir), seed=o["seed"])
    cfg.data.batch_size = o["batch_size"]
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
