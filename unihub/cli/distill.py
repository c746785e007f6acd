"""`unihub distill`: a hub model distilled into an MTP student."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from unihub.finetune.distillation.config import ActiveConfig, DistillConfig

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


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_distill(sub)
