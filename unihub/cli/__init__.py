"""``unihub``: one command line for the whole life of a potential.

Every subcommand's parser and handler lives in this package, one module per command family, above the four
packages: a handler turns flags into calls of the library. Building the parser imports settings and constants
only, so ``unihub --help`` stays fast and free of torch; a handler imports its package when it runs.
"""

from __future__ import annotations

import argparse
import sys

from unihub.cli import distill, finetune, label, md, report, train, zoo
from unihub.cli.common import Parser
from unihub.foundation.errors import UnihubError


def build_parser() -> argparse.ArgumentParser:
    """The ``unihub`` parser with every subcommand; each parsed command's handler is ``args.func``."""
    p = Parser(prog="unihub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for module in (train, finetune, zoo, md, distill, label, report):  # the order of `unihub --help`
        module.register(sub)
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
