"""`unihub demo`, `publish`, `release` and `list`: the model zoo."""

from __future__ import annotations

import argparse
from pathlib import Path

from unihub.foundation.errors import UnihubError


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
    d = sub.add_parser("demo", help="the main job: load universal-v2, relax structures, run MD, write a report")
    d.add_argument("--model", default="universal-v2")
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


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_demo(sub)
    _add_publish(sub)
    _add_release(sub)
    _add_list(sub)
