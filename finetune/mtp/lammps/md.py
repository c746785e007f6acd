"""Molecular dynamics of an MTP student in LAMMPS: write the input, run it, read the results back."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase.calculators.lammps import Prism
from ase.io import read, write

from ..model import MTPModel
from .evaluate import mtp_pair_commands
from .runtime import find_install, open_lammps

THERMO_COLUMNS = ("step", "time", "temp", "pe", "ke", "etotal", "press", "vol")
_ENSEMBLES = ("nve", "nvt", "npt")
# the program mpiexec starts when peak memory is measured: it runs one rank's lmp and prints that child's peak RSS
_RANK_WRAPPER = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run(sys.argv[1:], close_fds=False).returncode\n"
                 "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
                 "print(f'UNIHUB_PEAK_KB {peak}', file=sys.stderr, flush=True)\n"
                 "sys.exit(rc)\n")


@dataclass(frozen=True)
class LoopTime:
    """LAMMPS' "Loop time" of a run: wall seconds of its MD steps (setup excluded) on ``ranks`` MPI ranks."""

    seconds: float
    ranks: int
    steps: int
    atoms: int

    @property
    def us_per_atom_step(self) -> float:
        """Wall microseconds per atom-step (NaN for a run of no steps)."""
        return 1e6 * self.seconds / (self.atoms * self.steps) if self.steps and self.atoms else math.nan

    @property
    def us_per_atom_step_core(self) -> float:
        """Microseconds per atom-step and core: the cost, which parallel efficiency below 1 raises."""
        return self.us_per_atom_step * self.ranks


class MDFailed(RuntimeError):
    """LAMMPS stopped the run (lost atoms, a pair inside a table's inner cutoff, ...); ``frames`` are the complete
    frames it dumped before."""

    def __init__(self, message: str, frames: list):
        super().__init__(message)
        self.frames = frames


def _read_dump(path: Path, elements: Sequence[str], prism, pbc) -> list:
    """The complete frames of a LAMMPS text dump (a run that stopped may have left half a frame)."""
    if not path.exists():
        return []
    blocks = path.read_text().split("ITEM: TIMESTEP\n")[1:]
    complete = []
    for b in blocks:
        lines = b.splitlines()
        try:
            n = int(lines[lines.index("ITEM: NUMBER OF ATOMS") + 1])
            head = next(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS"))
        except (ValueError, IndexError, StopIteration):
            break
        if len(lines) < head + 1 + n:
            break
        complete.append("ITEM: TIMESTEP\n" + "\n".join(lines[:head + 1 + n]) + "\n")
    if not complete:
        return []
    frames = read(io.StringIO("".join(complete)), format="lammps-dump-text", index=":", specorder=list(elements),
                  prismobj=prism, units="metal")
    for fr in frames:
        fr.pbc = pbc
    return frames


@dataclass
class MDResult:
    """Thermo columns (LAMMPS metal units: ps, K, eV, bar, Å³), dumped frames in the caller's
    frame (positions Å, velocities Å/fs as ASE, forces eV/Å on ``frame.calc``), the files, the run's
    loop time and, when asked for, each rank's peak resident memory (MiB)."""

    thermo: dict[str, np.ndarray]
    frames: list = field(default_factory=list)
    workdir: Path | None = None
    drift_ev_per_atom_ps: float | None = None
    loop: LoopTime | None = None
    peak_mib_per_rank: list[float] = field(default_factory=list)


def _write_input(path: Path, *, data: Path, dump_file: Path, pair_commands: Sequence[str], pbc, steps: int,
                 temperature: float, timestep_ps: float, ensemble: str, thermo: int, dump: int, seed: int,
                 newton: bool, pressure_bar: float, tdamp_ps: float, pdamp_ps: float, skin: float) -> None:
    boundary = " ".join("p" if p else "m" for p in pbc)
    lines = [
        "units metal", "atom_style atomic", f"boundary {boundary}", f"newton {'on' if newton else 'off'}",
        f'read_data "{data}"', *pair_commands, f"neighbor {skin} bin", "neigh_modify every 1 delay 0 check yes",
        f"timestep {timestep_ps!r}",
    ]
    if temperature > 0:
        # 'loop all' draws velocities by atom ID, so any number of ranks starts from the same state
        lines.append(f"velocity all create {temperature!r} {seed} mom yes rot no dist gaussian loop all")
    t = f"temp {temperature!r} {temperature!r} {tdamp_ps!r}"
    lines.append({"nve": "fix integrate all nve", "nvt": f"fix integrate all nvt {t}",
                  "npt": f"fix integrate all npt {t} iso {pressure_bar!r} {pressure_bar!r} {pdamp_ps!r}"}[ensemble])
    lines += [f"thermo_style custom {' '.join(THERMO_COLUMNS)}", "thermo_modify format float %.17g",
              f"thermo {thermo}"]
    if dump:
        lines += [f'dump traj all custom {dump} "{dump_file}" id type x y z vx vy vz fx fy fz',
                  # flushed at every dump, so the frames before a run that blows up are there to read
                  "dump_modify traj sort id format float %.17g flush yes"]
    lines.append(f"run {steps}")
    path.write_text("\n".join(lines) + "\n")


def read_thermo(log: str | os.PathLike) -> dict[str, np.ndarray]:
    """The custom thermo table of a LAMMPS log (all runs concatenated)."""
    rows: list[list[float]] = []
    header = None
    for line in Path(log).read_text().splitlines():
        words = line.split()
        if len(words) == len(THERMO_COLUMNS) and words[0] == "Step":  # LAMMPS prints display names
            header = words
            continue
        if header is not None:
            if line.startswith("Loop time"):
                header = None
            elif len(words) == len(header):
                try:
                    rows.append([float(w) for w in words])
                except ValueError:  # a warning that happens to have as many words
                    pass
    table = np.array(rows).reshape(-1, len(THERMO_COLUMNS))
    return {name: table[:, k] for k, name in enumerate(THERMO_COLUMNS)}


def read_loop_time(log: str | os.PathLike) -> LoopTime | None:
    """The last "Loop time" line of a LAMMPS log (None if no run finished)."""
    found = re.findall(r"Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", Path(log).read_text())
    if not found:
        return None
    seconds, ranks, steps, atoms = found[-1]
    return LoopTime(float(seconds), int(ranks), int(steps), int(atoms))


def _nve_drift(th: dict[str, np.ndarray], n_atoms: int) -> float | None:
    if len(th["time"]) < 3:
        return None
    slope = np.polyfit(th["time"], th["etotal"], 1)[0]  # eV/ps
    return float(slope / n_atoms)


def _run(workdir: Path, ranks: int, log: Path, peak_memory: bool) -> list[float]:
    """Run ``workdir/in.lammps``; with ``peak_memory``, return each rank's peak RSS (MiB)."""
    args = ["-in", str(workdir / "in.lammps"), "-log", str(log), "-screen", "none", "-nocite"]
    if ranks == 1 and not peak_memory:
        lmp = open_lammps(args[2:])
        try:
            lmp.file(args[1])
        except Exception as e:  # the lammps module raises a bare Exception for LAMMPS' own errors
            raise RuntimeError(str(e)) from e
        finally:
            lmp.close()
        return []
    inst = find_install()
    wrapper = [sys.executable, "-c", _RANK_WRAPPER] if peak_memory else []
    cmd = [str(inst.mpiexec), "-n", str(ranks), *wrapper, str(inst.executable), *args]
    res = subprocess.run(cmd, cwd=workdir, env=inst.env(), capture_output=True, text=True)
    if res.returncode != 0:
        tail = log.read_text()[-3000:] if log.exists() else ""
        raise RuntimeError(f"LAMMPS on {ranks} ranks failed (exit {res.returncode}):\n{tail}\n{res.stderr[-2000:]}")
    return [int(kb) / 1024 for kb in re.findall(r"UNIHUB_PEAK_KB (\d+)", res.stderr)]


def run_md(student_path: str | os.PathLike | None, atoms, steps: int, temperature: float = 300.0,
           timestep: float = 1.0, ensemble: str = "nvt", ranks: int = 1, thermo: int = 10, dump: int = 0, *,
           elements=None, pair_commands: Sequence[str] | None = None, seed: int = 12345, newton: bool = True,
           pressure_gpa: float = 0.0, tdamp_fs: float = 100.0, pdamp_fs: float = 1000.0, skin: float = 1.0,
           workdir: str | os.PathLike | None = None, peak_memory: bool = False) -> MDResult:
    """Run ``steps`` of MD of ``atoms`` with the MTP in ``student_path`` inside LAMMPS.

    ``timestep`` in fs; ``ensemble`` is ``nve`` (velocity Verlet), ``nvt`` (Nose-Hoover) or ``npt``
    (Nose-Hoover, isotropic, ``pressure_gpa``). Velocities are drawn at ``temperature`` (by atom ID,
    so identical for any rank count); 0 starts at rest. ``ranks > 1`` runs ``mpiexec -n ranks lmp``.
    ``thermo``/``dump`` are output intervals in steps (``dump=0``: no trajectory). ``elements``
    names the file's species when the file does not. ``workdir`` keeps the input, data, log and
    dump files (default: a temporary folder, removed afterwards).

    ``pair_commands`` runs another LAMMPS potential instead of a student (e.g. ``pair_style sw``, the
    cost of a classical one in the same harness): ``student_path`` is then None and ``elements`` names
    LAMMPS types 1, 2, ... ``peak_memory`` runs every rank, a single one too, as its own process under
    mpiexec and records each one's peak RSS in ``MDResult.peak_mib_per_rank``. ``MDResult.loop`` is
    LAMMPS' timing of the MD steps. A run LAMMPS stops raises ``MDFailed`` with the frames dumped before.
    """
    if ensemble not in _ENSEMBLES:
        raise ValueError(f"ensemble must be one of {_ENSEMBLES}, got {ensemble!r}")
    if steps < 0 or ranks < 1 or thermo < 1 or dump < 0:
        raise ValueError("steps and dump must be >= 0, ranks and thermo >= 1")
    if abs(atoms.cell.volume) < 1e-9:
        raise ValueError("run_md needs a cell with non-zero volume (set atoms.cell; non-periodic axes may be any size)")
    if pair_commands is None:
        student_path = Path(student_path).resolve()
        elements = MTPModel.load(student_path, elements=elements).elements
        if not elements:
            raise ValueError(f"{student_path} does not name its elements: pass elements=[...] in the file's "
                             "species order")
        pair_commands, source = mtp_pair_commands(student_path, elements), student_path.name
    elif not elements:
        raise ValueError("pair_commands needs elements=[...]: the species of LAMMPS types 1, 2, ...")
    else:
        source = "elements"
    elements = list(elements)
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if unknown:
        raise ValueError(f"elements {unknown} are not in {source} (it has {elements})")

    tmp = None if workdir is not None else tempfile.TemporaryDirectory(prefix="unihub-lammps-")
    wd = Path(workdir if workdir is not None else tmp.name).resolve()
    wd.mkdir(parents=True, exist_ok=True)
    try:
        prism = Prism(np.asarray(atoms.cell), pbc=atoms.pbc)
        # LAMMPS types follow the file's species order, so the by-name and by-position mappings agree
        with open(wd / "data.lammps", "w") as fd:
            write(fd, atoms, format="lammps-data", specorder=elements, masses=True, prismobj=prism, units="metal")
        _write_input(wd / "in.lammps", data=wd / "data.lammps", dump_file=wd / "traj.dump",
                     pair_commands=pair_commands, pbc=atoms.pbc, steps=steps, temperature=temperature,
                     timestep_ps=timestep * 1e-3, ensemble=ensemble, thermo=thermo, dump=dump, seed=seed,
                     newton=newton, pressure_bar=pressure_gpa * 1e4, tdamp_ps=tdamp_fs * 1e-3,
                     pdamp_ps=pdamp_fs * 1e-3, skin=skin)
        log = wd / "log.lammps"
        try:
            peaks = _run(wd, ranks, log, peak_memory)
        except RuntimeError as e:
            raise MDFailed(str(e), _read_dump(wd / "traj.dump", elements, prism, atoms.pbc) if dump else []) from None
        th = read_thermo(log)
        frames = _read_dump(wd / "traj.dump", elements, prism, atoms.pbc) if dump else []
        drift = _nve_drift(th, len(atoms)) if ensemble == "nve" else None
        return MDResult(th, frames, wd if tmp is None else None, drift, read_loop_time(log), peaks)
    finally:
        if tmp is not None:
            tmp.cleanup()
