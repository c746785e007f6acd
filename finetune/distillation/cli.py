"""``unihub distill TEACHER --elements Si [--structures FILE] --level 16 -o si.mtp``."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import logging

    from .active import ActiveConfig

    # without bars the stage and round lines still go to stderr
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .distill import distill, load_reference

    elements = [e for part in (args.elements or []) for e in part.split(",") if e] or None
    reference = None
    if args.dft:
        if not elements:
            raise ValueError("--dft needs --elements to pick the frames to compare on")
        name, frames = load_reference(args.dft, elements)
        reference = {name: frames}
    active = ActiveConfig(threshold=args.threshold, steps=args.al_steps, max_rounds=args.rounds,
                          fit_iters=args.refit_iters) if args.rounds > 0 else False
    student = distill(args.teacher, elements=elements, structures=args.structures, level=args.level,
                      r_cut=args.r_cut, head=args.head, temperatures=args.temperatures, budget=args.budget,
                      output=args.output, md_steps=args.md_steps, fit_iters=args.fit_iters, active=active,
                      reference=reference, seed=args.seed, threads=args.threads, progress=not args.no_progress,
                      resume=args.resume, force_relative=args.relative_forces,
                      force_weight=args.force_weight)
    for ref, e in student.record["errors"].items():
        print(f"student vs {ref}: E {e['energy_mae']:.2f} meV/atom  F {e['force_mae']:.1f} meV/Å"
              + (f"  S {e['stress_mae']:.3f} GPa" if "stress_mae" in e else ""))
    print(args.output)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``distill`` subcommand to ``unihub``'s subparsers."""
    d = subparsers.add_parser("distill", help="distil a hub model into a fast MTP student (.mtp)")
    d.add_argument("teacher", help="registry name or model folder of the teacher")
    d.add_argument("--elements", nargs="+", help="element symbols (Si or W Be or W,Be); default: from --structures")
    d.add_argument("--structures", help="starting structures (any file ASE reads); default: generated")
    d.add_argument("--level", type=int, default=16)
    d.add_argument("--r-cut", dest="r_cut", type=float, default=5.0)
    d.add_argument("--head", help="teacher fidelity head (default: the teacher's)")
    d.add_argument("-T", "--temperatures", type=float, nargs="+",
                   help="K, one ladder for every MD start; default: each start its own, 0.2-1.25x its melting point")
    d.add_argument("--budget", type=int, default=1500, help="teacher-labelled configurations at most")
    d.add_argument("--md-steps", dest="md_steps", type=int, default=400, help="teacher MD steps per temperature")
    d.add_argument("--fit-iters", dest="fit_iters", type=int, default=300)
    d.add_argument("--rounds", type=int, default=8, help="active-learning rounds at most (0: none)")
    d.add_argument("--refit-iters", dest="refit_iters", type=int, default=150, help="BFGS iterations per refit")
    d.add_argument("--threshold", type=float, default=2.0, help="MaxVol grade that triggers a teacher label")
    d.add_argument("--al-steps", dest="al_steps", type=int, default=1000, help="student MD steps per run")
    d.add_argument("--dft", help="DFT frames to report errors on, dataset[:split], e.g. mlearn:test")
    d.add_argument("--threads", type=int, help="cores to use: teacher and fit threads, parallel student MD runs")
    d.add_argument("--seed", type=int, default=0)
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
    d.set_defaults(func=_run)
    return d
