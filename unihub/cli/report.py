"""`unihub report`: the benchmark report."""

from __future__ import annotations

import argparse
import sys

import unihub.eval
from unihub.cli.common import positive_int
from unihub.eval.suites import ORDER
from unihub.foundation.files import check_output_dir


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


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_report(sub)
