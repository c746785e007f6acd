"""``unihub``: one command line for the whole life of a potential.

Subcommands import their package lazily so ``unihub --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def _train(args: argparse.Namespace) -> int:
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


def _demo(args: argparse.Namespace) -> int:
    from unihub.zoo.demo import run_demo

    run_demo(args.model, args.output, md_steps=args.md_steps, progress=not args.no_progress)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from unihub.zoo import load_model

    model = load_model(args.model)
    print(model.push_to_hub(args.repo, private=args.private, token=args.token))
    return 0


def _list(args: argparse.Namespace) -> int:
    from unihub.zoo import list_models

    for m in list_models():
        print(f"{m['name']:<20} {m['kind']:<10} {', '.join(m['aliases']):<20} {m['description']}")
    return 0


def _md(args: argparse.Namespace) -> int:
    from ase.io import read

    from unihub.zoo import load_model
    from unihub.zoo.simulate import md

    atoms = read(args.structure)
    elements = args.elements.split(",") if getattr(args, "elements", None) else None
    model = load_model(args.model, head=args.head, elements=elements)
    trace = md(atoms, args.temperature, args.steps, ensemble=args.ensemble, timestep=args.timestep,
               calculator=model.calculator(), trajectory=args.trajectory)
    print(f"final T {trace['temperature'][-1]:.1f} K, E {trace['energy'][-1]:.4f} eV")
    if "drift_ev_per_atom_ps" in trace:
        print(f"NVE drift {trace['drift_ev_per_atom_ps']:.2e} eV/atom/ps")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unihub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="pretrain a universal potential from a YAML config")
    t.add_argument("config")
    t.add_argument("--devices", type=lambda s: s if s == "auto" else int(s))
    t.add_argument("--accelerator", choices=["cpu", "gpu", "cuda", "auto"])
    t.add_argument("--num-nodes", dest="num_nodes", type=int)
    t.add_argument("--strategy")
    t.add_argument("--max-epochs", dest="max_epochs", type=int)
    t.add_argument("--max-steps", dest="max_steps", type=int)
    t.add_argument("--max-time", dest="max_time")
    t.add_argument("-o", "--output")
    t.add_argument("--restart", action="store_true", help="ignore an existing last.ckpt instead of resuming")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_train)
    from unihub.finetune.cli import add_parser as add_finetune_parser

    add_finetune_parser(sub)

    d = sub.add_parser("demo", help="the main job: load universal-v1, relax structures, run MD, write a report")
    d.add_argument("--model", default="universal-v1")
    d.add_argument("-o", "--output", default="demo_out")
    d.add_argument("--md-steps", dest="md_steps", type=int, default=200)
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=_demo)

    pb = sub.add_parser("publish", help="upload a model folder to the Hugging Face Hub")
    pb.add_argument("model", help="a registry name or a model folder")
    pb.add_argument("--repo", required=True, help="owner/name on the Hub")
    pb.add_argument("--private", action="store_true")
    pb.add_argument("--token", help="Hub token (default: HF_TOKEN or the cached login)")
    pb.set_defaults(func=_publish)

    ls = sub.add_parser("list", help="list the models in the registry")
    ls.set_defaults(func=_list)

    m = sub.add_parser("md", help="molecular dynamics on a structure file with a hub model")
    m.add_argument("structure", help="any file ASE reads (cif, POSCAR, extxyz, ...)")
    m.add_argument("--model", default="universal-v1")
    m.add_argument("--head")
    m.add_argument("-T", "--temperature", type=float, default=300.0)
    m.add_argument("--steps", type=int, default=1000)
    m.add_argument("--ensemble", default="nvt", choices=["nve", "nvt", "npt"])
    m.add_argument("--timestep", type=float, default=1.0, help="fs")
    m.add_argument("--trajectory")
    m.set_defaults(func=_md)
    from unihub.finetune.mtp.lammps.cli import add_lammps_parser  # `unihub lammps build`, `unihub md --engine lammps`

    add_lammps_parser(sub, md_parser=m)
    from unihub.finetune.distillation.cli import add_parser as add_distill_parser

    add_distill_parser(sub)
    from unihub.eval.cli import add_parser as add_report_parser

    add_report_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"unihub {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
