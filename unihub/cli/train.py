"""`unihub train` and `unihub pack`: pretraining and packing datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from unihub.cli.common import positive_int


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


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_train(sub)
    _add_pack(sub)
