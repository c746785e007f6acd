"""Molecular dynamics of an MTP student in LAMMPS: write the input, run it, read the results back."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase.calculators.lammps import Prism
from ase.io import read, write

from ..model import MTPModel
from .build import build_plugin
from .runtime import find_install, open_lammps

THERMO_COLUMNS = ("step", "time", "temp", "pe", "ke", "etotal", "press", "vol")
_ENSEMBLES = ("nve", "nvt", "npt")


@dataclass
class MDResult:
    """Thermo columns (LAMMPS metal units: ps, K, eV, bar, Å³), dumped frames in the caller's
    frame (positions Å, velocities Å/fs as ASE, forces eV/Å on ``frame.calc``), and the files."""

    thermo: dict[str, np.ndarray]
    frames: list = field(default_factory=list)
    workdir: Path | None = None
    drift_ev_per_atom_ps: float | None = None


def _write_input(path: Path, *, data: Path, dump_file: Path, plugin: Path, student: Path, elements: list[str],
                 pbc, steps: int, temperature: float, timestep_ps: float, ensemble: str, thermo: int, dump: int,
                 seed: int, newton: bool, pressure_bar: float, tdamp_ps: float, pdamp_ps: float, skin: float) -> None:
    boundary = " ".join("p" if p else "m" for p in pbc)
    lines = [
        "units metal", "atom_style atomic", f"boundary {boundary}", f"newton {'on' if newton else 'off'}",
        f'read_data "{data}"',
        f'plugin load "{plugin}"', "pair_style unihub/mtp", f'pair_coeff * * "{student}" {" ".join(elements)}',
        f"neighbor {skin} bin", "neigh_modify every 1 delay 0 check yes",
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
                  "dump_modify traj sort id format float %.17g"]
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


def _nve_drift(th: dict[str, np.ndarray], n_atoms: int) -> float | None:
    if len(th["time"]) < 3:
        return None
    slope = np.polyfit(th["time"], th["etotal"], 1)[0]  # eV/ps
    return float(slope / n_atoms)


def _run(workdir: Path, ranks: int, log: Path) -> None:
    args = ["-in", str(workdir / "in.lammps"), "-log", str(log), "-screen", "none", "-nocite"]
    if ranks == 1:
        lmp = open_lammps(args[2:])
        try:
            lmp.file(args[1])
        finally:
            lmp.close()
        return
    inst = find_install()
    cmd = [str(inst.mpiexec), "-n", str(ranks), str(inst.executable), *args]
    res = subprocess.run(cmd, cwd=workdir, env=inst.env(), capture_output=True, text=True)
    if res.returncode != 0:
        tail = log.read_text()[-3000:] if log.exists() else ""
        raise RuntimeError(f"LAMMPS on {ranks} ranks failed (exit {res.returncode}):\n{tail}\n{res.stderr[-2000:]}")


def run_md(student_path: str | os.PathLike, atoms, steps: int, temperature: float = 300.0, timestep: float = 1.0,
           ensemble: str = "nvt", ranks: int = 1, thermo: int = 10, dump: int = 0, *, elements=None,
           seed: int = 12345, newton: bool = True, pressure_gpa: float = 0.0, tdamp_fs: float = 100.0,
           pdamp_fs: float = 1000.0, skin: float = 1.0, workdir: str | os.PathLike | None = None) -> MDResult:
    """Run ``steps`` of MD of ``atoms`` with the MTP in ``student_path`` inside LAMMPS.

    ``timestep`` in fs; ``ensemble`` is ``nve`` (velocity Verlet), ``nvt`` (Nose-Hoover) or ``npt``
    (Nose-Hoover, isotropic, ``pressure_gpa``). Velocities are drawn at ``temperature`` (by atom ID,
    so identical for any rank count); 0 starts at rest. ``ranks > 1`` runs ``mpiexec -n ranks lmp``.
    ``thermo``/``dump`` are output intervals in steps (``dump=0``: no trajectory). ``elements``
    names the file's species when the file does not. ``workdir`` keeps the input, data, log and
    dump files (default: a temporary folder, removed afterwards).
    """
    if ensemble not in _ENSEMBLES:
        raise ValueError(f"ensemble must be one of {_ENSEMBLES}, got {ensemble!r}")
    if steps < 0 or ranks < 1 or thermo < 1 or dump < 0:
        raise ValueError("steps and dump must be >= 0, ranks and thermo >= 1")
    if abs(atoms.cell.volume) < 1e-9:
        raise ValueError("run_md needs a cell with non-zero volume (set atoms.cell; non-periodic axes may be any size)")
    student_path = Path(student_path).resolve()
    model = MTPModel.load(student_path, elements=elements)
    if not model.elements:
        raise ValueError(f"{student_path} does not name its elements: pass elements=[...] in the file's species order")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(model.elements))
    if unknown:
        raise ValueError(f"elements {unknown} are not in {student_path.name} (it has {model.elements})")
    plugin = build_plugin()

    tmp = None if workdir is not None else tempfile.TemporaryDirectory(prefix="unihub-lammps-")
    wd = Path(workdir if workdir is not None else tmp.name).resolve()
    wd.mkdir(parents=True, exist_ok=True)
    try:
        prism = Prism(np.asarray(atoms.cell), pbc=atoms.pbc)
        # LAMMPS types follow the file's species order, so the by-name and by-position mappings agree
        with open(wd / "data.lammps", "w") as fd:
            write(fd, atoms, format="lammps-data", specorder=model.elements, masses=True, prismobj=prism,
                  units="metal")
        _write_input(wd / "in.lammps", data=wd / "data.lammps", dump_file=wd / "traj.dump", plugin=plugin,
                     student=student_path, elements=model.elements, pbc=atoms.pbc, steps=steps, temperature=temperature,
                     timestep_ps=timestep * 1e-3, ensemble=ensemble, thermo=thermo, dump=dump, seed=seed,
                     newton=newton, pressure_bar=pressure_gpa * 1e4, tdamp_ps=tdamp_fs * 1e-3,
                     pdamp_ps=pdamp_fs * 1e-3, skin=skin)
        log = wd / "log.lammps"
        _run(wd, ranks, log)
        th = read_thermo(log)
        frames = []
        if dump:
            frames = read(wd / "traj.dump", format="lammps-dump-text", index=":", specorder=model.elements,
                          prismobj=prism, units="metal")
            for fr in frames:
                fr.pbc = atoms.pbc
        drift = _nve_drift(th, len(atoms)) if ensemble == "nve" else None
        return MDResult(th, frames, wd if tmp is None else None, drift)
    finally:
        if tmp is not None:
            tmp.cleanup()
