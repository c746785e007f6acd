"""`unihub finetune`: a hub model fine-tuned on your frames."""

from __future__ import annotations

import argparse
import json

from unihub.cli.common import open_fraction, positive_int
from unihub.finetune.config import FinetuneConfig


def _lr_factors(text: str) -> dict[str, float]:
    """``embeddings=0.1,readout=2`` → {"embeddings": 0.1, "readout": 2.0}."""
    out = {}
    for item in filter(None, text.split(",")):
        stage, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected STAGE=FACTOR, got {item!r}")
        out[stage.strip()] = float(value)
    return out


def _read_option(text: str) -> tuple[str, object]:
    """``energy_key=REF_energy`` → ("energy_key", "REF_energy"); a JSON value (number, list, mapping) is parsed."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _e0(text: str):
    return text if text in ("estimate", "keep") else json.loads(text)


# flags that set the FinetuneConfig setting of the same (flat keyword) name
_FINETUNE_FLAGS = ("head", "new_head_name", "fidelity", "freeze", "lr_factors", "replay", "replay_ratio",
                   "replay_select", "replay_filter", "replay_fidelity", "pseudolabel_replay", "ewc", "e0", "epochs",
                   "max_steps", "lr", "batch_size", "data_card", "eval_pretraining", "seed", "threads", "check_units",
                   "valid_fraction", "patience")


def finetune_config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """``unihub finetune``'s settings: the ``--config`` file's (else the defaults), with every flag given over them."""
    # the command line shows progress bars unless the file or --no-progress turns them off
    cfg = (FinetuneConfig(progress=True) if args.config is None
           else FinetuneConfig.from_yaml(args.config, defaults={"progress": True}))
    given = {k: getattr(args, k) for k in _FINETUNE_FLAGS if getattr(args, k) is not None}
    if args.read_option or args.format:
        given["read_options"] = {**cfg.read_options, **dict(args.read_option or [])}
        if args.format:
            given["read_options"]["format"] = args.format
    if args.no_progress:
        given["progress"] = False
    return cfg.with_overrides(**given)


def _finetune(args: argparse.Namespace) -> int:
    from unihub.finetune import finetune  # training loads when the command runs, not with the parser

    model = finetune(args.base, args.data, finetune_config_from_args(args), test=args.test,
                     pretraining=args.pretraining, output=args.output, resume=True if args.resume else None,
                     overwrite=args.overwrite)
    err = model.extra_config["finetune"]["errors"]
    b, a = err["before"], err["after"]
    print(f"{args.output}: force MAE on the fine-tune {err['finetune_set']} set {b['forces_mev_a']:.1f} → "
          f"{a['forces_mev_a']:.1f} meV/Å, energy {b['energy_mev_atom']:.1f} → {a['energy_mev_atom']:.1f} meV/atom")
    return 0


def _add_finetune(sub) -> None:
    default = FinetuneConfig()
    p = sub.add_parser(
        "finetune", help="fine-tune a hub model on your frames (freeze, replay, EWC, new head)",
        description="Fine-tune a hub model on your frames. Settings come from flags, over a --config YAML file "
                    "if given. OUT/run keeps checkpoints, the settings (finetune-config.yaml: pass it to --config "
                    "to repeat the run) and a manifest (sha256 of DATA and --test, the base model's weight digest, "
                    "every setting but --threads, --no-progress and --data-card). Rerunning the same command "
                    "resumes from the last checkpoint; a run with other data, base model or settings in OUT is "
                    "refused, never overwritten: pass --overwrite to discard it, or another -o. Labels must be eV, "
                    "eV/Å, eV/Å³: they are checked against themselves (energy vs forces and stress between nearby "
                    "frames, energy per atom vs PBE elemental references, force sums, stress layout) before "
                    "training.")
    p.add_argument("base", help="registry name or model folder of the base model")
    p.add_argument("data", help="labelled frames in any format the readers know (extxyz, ASE db/traj, ...)")
    p.add_argument("-o", "--output", required=True, help="folder for the fine-tuned model (zoo format)")
    p.add_argument("--head", help="existing head to tune, or 'new' (default: the data's fidelity label)")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="settings from a YAML file (FinetuneConfig's keys, as OUT/run/finetune-config.yaml "
                        "keeps them); the flags given override it")
    p.add_argument("--new-head-name", dest="new_head_name", help=f"default: {default.new_head_name}")
    p.add_argument("--fidelity", help="fidelity label of the data (default: the reader's)")
    p.add_argument("--freeze", help="stages to freeze, e.g. embeddings,interaction:0")
    p.add_argument("--lr-factors", dest="lr_factors", type=_lr_factors, help="e.g. embeddings=0.1,readout=2")
    p.add_argument("--replay", type=int, help="pretraining frames in the replay pool (default: 0)")
    p.add_argument("--replay-ratio", dest="replay_ratio", type=float,
                   help="replay frames per fine-tune frame each epoch (default: the whole pool)")
    p.add_argument("--replay-select", dest="replay_select", choices=["random", "fps"],
                   help=f"default: {default.replay.select}")
    p.add_argument("--replay-filter", dest="replay_filter", choices=["none", "combinations", "inclusive", "exclusive"],
                   help=f"default: {default.replay.filter}")
    p.add_argument("--replay-fidelity", dest="replay_fidelity",
                   help="replay frames of one fidelity: any, head (the tuned head's) or a fidelity's name "
                        f"(default: {default.replay.fidelity})")
    p.add_argument("--pseudolabel-replay", dest="pseudolabel_replay", action="store_true", default=None)
    p.add_argument("--pretraining", help="pack folder of the pretraining mix (default: the base model's)")
    p.add_argument("--ewc", type=float, help="EWC penalty weight λ (default 0: off)")
    p.add_argument("--e0", type=_e0, help=f"estimate | keep | JSON {{element: eV}} (default: {default.e0})")
    p.add_argument("--epochs", type=positive_int,
                   help=f"default: {default.epochs}; training ends at --epochs or --max-steps, whichever comes first")
    p.add_argument("--max-steps", dest="max_steps", type=positive_int)
    p.add_argument("--valid-fraction", dest="valid_fraction", type=open_fraction,
                   help="hold out whole groups (relaxation runs) holding this fraction of DATA's training frames to "
                        "validate on (default: 0, none; frames marked with the 'val' split validate in any case)")
    p.add_argument("--patience", type=positive_int,
                   help="stop after this many epochs without a lower validation loss and keep the best weights "
                        "(needs validation frames; default: run all epochs, keep the last)")
    p.add_argument("--lr", type=float, help=f"default: {default.lr:g}")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, help=f"default: {default.batch_size}")
    p.add_argument("--test", help="held-out frames for the before/after errors")
    p.add_argument("--data-card", dest="data_card", help="data card (name or .md) declaring the data's units")
    p.add_argument("--eval-pretraining", dest="eval_pretraining", type=int,
                   help="frames per pretraining validation set for the forgetting report (default 0: skip)")
    p.add_argument("--seed", type=int, help=f"default: {default.seed}")
    p.add_argument("--threads", type=positive_int, help=f"default: {default.threads}")
    p.add_argument("--format", help="reader of DATA (e.g. extxyz, ase_db, ase_traj; default: guessed from the file)")
    p.add_argument("--read-option", dest="read_option", type=_read_option, action="append", metavar="KEY=VALUE",
                   help="reader option, repeatable, e.g. energy_key=REF_energy forces_key=REF_forces "
                        "stress_unit=GPa split_key=split")
    p.add_argument("--check-units", dest="check_units", action=argparse.BooleanOptionalAction,
                   help="refuse labels that look like meV, kcal/mol, kJ/mol, Hartree, Rydberg, transposed forces "
                        "or stress in kbar/GPa (default: on; --no-check-units if the labels are right)")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT's run; refuse if OUT holds none or one of other data, base model or settings "
                        "(without the flag the same run resumes and an empty OUT starts afresh)")
    p.add_argument("--overwrite", action="store_true",
                   help="discard the run in OUT (checkpoints and manifest) and start afresh")
    p.add_argument("--no-progress", dest="no_progress", action="store_true")
    p.set_defaults(func=_finetune)


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_finetune(sub)
