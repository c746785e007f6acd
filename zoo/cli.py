"""``unihub``: one command line for the whole life of a potential.

Subcommands import their package lazily so ``unihub --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def _train(args: argparse.Namespace) -> int:
    from foundation.training import TrainConfig, train

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
