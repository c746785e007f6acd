"""`unihub label`: generated structures labelled by teachers, and their data card."""

from __future__ import annotations

import argparse
import json
import subprocess
from functools import partial
from pathlib import Path

from unihub.cli.common import positive_int
from unihub.foundation.errors import InputError, MissingInputError
from unihub.foundation.files import atomic_write, cache_dir, read_manifest


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
                                                         max_atoms=args.max_atoms, kinds=args.kinds))
    run = {"n": args.n, "seed": args.seed, "max_atoms": args.max_atoms, "elements": args.elements,
           "teachers": args.teachers, "shards": args.shards, "generator": generator}
    if args.kinds:  # only when given: runs of the default stream keep their run.json
        run["kinds"] = args.kinds
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
                                              max_atoms=args.max_atoms, kinds=args.kinds,
                                              start_block=resume_block(out))
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
    if run.get("kinds"):
        flags += f" --kinds {' '.join(run['kinds'])}"
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
    lb.add_argument("--kinds", nargs="+", help="the generator's kinds to emit (default: its default stream); "
                                                "name 'wide_strained' for copies strained beyond ±10 %%")
    lb.add_argument("--teachers", nargs="+", default=["chgnet", "sevennet-0"],
                    help="peers or hub models with an mptrj head; the first also sets each structure's volume")
    lb.add_argument("--shard", type=int, default=0, help="this process's shard (run one process per core)")
    lb.add_argument("--shards", type=positive_int, default=1)
    lb.add_argument("--batch-size", dest="batch_size", type=positive_int, default=16)
    lb.add_argument("--threads", type=positive_int, default=1, help="torch threads of this process")
    lb.add_argument("--card", action="store_true", help="write data_cards/NAME.md from the finished shards")
    lb.set_defaults(func=_label)


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_label(sub)
