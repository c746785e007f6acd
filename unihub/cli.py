"""``unihub``: one command line for the whole life of a potential.

Subcommands import their package lazily so ``unihub --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import NoReturn

from unihub.foundation.errors import InputError, MissingInputError, UnihubError
from unihub.foundation.files import atomic_write, cache_dir, check_output, read_manifest


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


def _md(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import read, write

    from unihub.foundation.data import read_structure
    from unihub.foundation.simulate import md
    from unihub.zoo import load_model

    traj = check_output(args.trajectory, (args.structure,), args.overwrite) if args.trajectory else None
    if traj is not None:
        fmt = _format_of(traj)
    atoms = read_structure(args.structure)
    elements = args.elements.split(",") if getattr(args, "elements", None) else None
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
    from unihub.finetune.distillation.teacher_set import label_generated

    structures = compounds.generate_compounds(args.n, seed=args.seed, elements=args.elements,
                                              max_atoms=args.max_atoms)
    out = folder / f"shard{args.shard}-of-{args.shards}.extxyz"
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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="unihub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

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
    # each of these imports positive_int from this module: imported once it is complete (a cycle at module top)
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

    rl = sub.add_parser("release", help="render a shipped model's card from its files and recompute its checksums "
                                        "and registry entry (--from ships a trained run under NAME)")
    rl.add_argument("name")
    rl.add_argument("--from", dest="run", help="a trained run's model folder")
    rl.add_argument("--alias", action="append", help="aliases of NAME, taken from any other model (default: kept)")
    rl.set_defaults(func=_release)

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
    m.add_argument("--trajectory", help="file for the frames, in the format its extension names (.traj, .xyz, ...)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --trajectory file")
    m.set_defaults(func=_md)
    from unihub.finetune.mtp.lammps.cli import add_lammps_parser  # `unihub lammps build`, `unihub md --engine lammps`

    add_lammps_parser(sub, md_parser=m)
    from unihub.finetune.distillation.cli import add_parser as add_distill_parser

    add_distill_parser(sub)
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
    from unihub.eval.cli import add_parser as add_report_parser

    add_report_parser(sub)
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
