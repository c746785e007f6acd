"""MTP students in LAMMPS: throughput on 1 and N MPI ranks, memory, and cost vs the Python-side kernel.

    python bench/lammps_speed.py [--sizes 32000 1000000] [--ranks 1 2] [--steps 50 3] [--potential si16.mtp]

The potential is a level-16 Si MTP (linear fit to LAMMPS' Stillinger-Weber Si on rattled 64-atom
cells, so MD stays physical) unless ``--potential`` names one. Cells are diamond Si (a = 5.43 Å,
exactly ``--sizes`` atoms), started at 300 K, NVE, neighbour skin 1 Å. Every run is a fresh
``mpiexec -n R lmp``; its time is LAMMPS' "Loop time" (MD steps, without setup). Peak memory is the
max RSS of each rank's process. In the same run the Python-side kernel (``MTPModel.calculator()``,
1 thread, neighbour list reused under small displacements) is timed on the smallest cell, so the
per-atom-step costs are side by side. ``--native-sw`` also runs LAMMPS' own Stillinger-Weber Si on the same
cells and ranks, the cost of a classical potential in the same harness. The 1-minute load average is printed
with every timing. The runs are ``unihub.finetune.mtp.lammps.run_md``'s, the MD behind ``unihub md --engine
lammps``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from record import cell_of, process_seconds, write_record

from unihub.foundation.timing import load_text, time_calculator

if TYPE_CHECKING:  # for annotations only
    from ase import Atoms

A_SI = 5.43
SI = ("Si", "diamond", A_SI)


def fit_potential(path: Path, level: int = 16) -> None:
    """A level-``level`` Si MTP fitted (linear) to Stillinger-Weber labels computed by LAMMPS."""
    from unihub.finetune.mtp.lammps.reference import sw_fitted_si

    train = sw_fitted_si(path, level, n_frames=24)
    print(f"fitted level-{level} Si MTP to SW: force MAE {train['force_mae_meV_A']:.0f} meV/Å", flush=True)


def box_repeats(n_atoms: int, sites: int = 8) -> tuple[int, int, int]:
    """Cubic-cell repeats (``sites`` atoms each) giving exactly ``n_atoms``, as close to a cube as possible."""
    cells = n_atoms // sites
    if cells * sites != n_atoms:
        raise ValueError(f"{n_atoms} is not a multiple of {sites} (atoms of the cubic cell)")
    best = None
    for nx in range(1, round(cells ** (1 / 3)) + 2):
        for ny in range(nx, round((cells / nx) ** 0.5) + 2):
            if cells % (nx * ny) == 0:
                nz = cells // (nx * ny)
                spread = max(nx, ny, nz) / min(nx, ny, nz)
                if best is None or spread < best[0]:
                    best = (spread, (nx, ny, nz))
    return best[1]


def si_cell(n_atoms: int) -> Atoms:
    """Exactly ``n_atoms`` of diamond Si, cubic cells stacked as close to a cube as ``n_atoms`` allows."""
    from ase.build import bulk

    return bulk("Si", "diamond", a=A_SI, cubic=True).repeat(box_repeats(n_atoms))


def run_lammps(ranks: int, potential: Path | str, n_atoms: int, steps: int) -> dict:
    """NVE at 300 K of ``n_atoms`` diamond Si on ``ranks`` MPI ranks with the MTP at ``potential`` (or LAMMPS'
    own Stillinger-Weber Si if it is "sw"): LAMMPS' loop time, throughput and each rank's peak memory."""
    from unihub.finetune.mtp.lammps import run_md
    from unihub.finetune.mtp.lammps.reference import sw_si_pair_commands

    other = {"pair_commands": sw_si_pair_commands(), "elements": ["Si"]} if str(potential) == "sw" else {}
    before = load_text()
    res = run_md(None if other else potential, si_cell(n_atoms), steps, 300.0, ensemble="nve", ranks=ranks,
                 peak_memory=True, **other)
    loop = res.loop
    return {"ranks": ranks, "atoms": loop.atoms, "steps": loop.steps, "seconds": loop.seconds,
            "atom_steps_per_s": loop.atoms * loop.steps / loop.seconds,
            "us_per_atom_step_core": loop.us_per_atom_step_core, "peak_MiB_per_rank": res.peak_mib_per_rank,
            "load": f"{before} -> {load_text()}"}


def python_kernel_cost(potential: Path, n_atoms: int, steps: int) -> dict:
    """µs per atom-step of MTPModel.calculator() (1 thread, neighbour list reused), as bench/mtp_speed.py."""
    from unihub.finetune.mtp.model import MTPModel

    atoms = si_cell(n_atoms)
    atoms.rattle(0.02, seed=1)
    calc = MTPModel.load(potential).calculator(skin=1.0, threads=1)
    timing = time_calculator(calc, atoms, steps)
    return {"atoms": len(atoms), "steps": steps, "us_per_atom_step": timing.us_per(len(atoms)),
            "neighbour_builds": calc.nlist.builds, "load": timing.load}


def teacher_cost(name: str, threads: int) -> float:
    """µs per atom-step (energy, forces, stress; median of 20 calls) of a hub model on 512 atoms of diamond Si."""
    import torch

    from unihub.zoo import load_model

    torch.set_num_threads(threads)
    atoms = cell_of(SI, 512)
    us = time_calculator(load_model(name).calculator(), atoms, 20).us_per(len(atoms))
    print(f"teacher {name}: {us:.1f} µs/atom-step ({len(atoms)} atoms, {threads} threads)  {load_text()}", flush=True)
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32000, 1000000])
    ap.add_argument("--steps", type=int, nargs="+", default=[50, 3], help="MD steps per size")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--python-steps", type=int, default=10)
    ap.add_argument("--potential", type=Path, help="a Si .mtp (default: fit a level-16 one to SW)")
    ap.add_argument("--teacher", help="a hub model to time in the same run (ASE, 512 atoms, max(--ranks) threads), "
                    "so every LAMMPS row also gets its speed over the teacher's")
    ap.add_argument("--native-sw", action="store_true",
                    help="also run LAMMPS' own Stillinger-Weber Si (C++ pair style sw) on the same cells and ranks")
    args = ap.parse_args()
    steps = dict(zip(args.sizes, args.steps + [args.steps[-1]] * len(args.sizes)))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="unihub-lammps-bench-") as d:
        work = Path(d)
        potential = args.potential
        if potential is None:
            potential = work / "si16.mtp"
            fit_potential(potential)
        potential = potential.resolve()
        teacher_us = teacher_cost(args.teacher, max(args.ranks)) if args.teacher else None
        print(f"{'atoms':>8} {'ranks':>5} {'steps':>5} {'atom-steps/s':>13} {'µs/atom-step·core':>18} "
              f"{'par. eff.':>9} {'peak MiB/rank':>15} {'total MiB':>9}  load (1/5/15 min) before -> after", flush=True)
        lmp_cost = {}
        for n in args.sizes:
            base = None
            for r in args.ranks:
                res = run_lammps(r, potential, n, steps[n])
                base = base or res
                eff = res["atom_steps_per_s"] / (base["atom_steps_per_s"] * r / base["ranks"])
                peaks = res["peak_MiB_per_rank"]
                print(f"{res['atoms']:8d} {r:5d} {res['steps']:5d} {res['atom_steps_per_s']:13.4g} "
                      f"{res['us_per_atom_step_core']:18.2f} {eff:9.1%} {'/'.join(f'{p:.0f}' for p in peaks):>15} "
                      f"{sum(peaks):9.0f}  {res['load']}", flush=True)
                if r == 1:
                    lmp_cost[n] = res["us_per_atom_step_core"]
                if teacher_us:
                    print(f"{'':8} {'':5} {'':5} teacher / student per atom-step: "
                          f"{teacher_us / (res['us_per_atom_step_core'] / r):.1f}", flush=True)
                if args.native_sw:  # a classical potential's cost in the same harness: the floor MD costs
                    sw = run_lammps(r, "sw", n, steps[n])
                    print(f"{'':8} {'':5} {'':5} {sw['atom_steps_per_s']:13.4g} {sw['us_per_atom_step_core']:18.2f}"
                          f"  LAMMPS' Stillinger-Weber; MTP / SW cost {res['seconds'] / sw['seconds']:.1f}  "
                          f"{sw['load']}", flush=True)
                    if teacher_us:
                        print(f"{'':8} {'':5} {'':5} teacher / SW per atom-step: "
                              f"{teacher_us / (sw['us_per_atom_step_core'] / r):.1f}", flush=True)
        n_py = min(args.sizes)
        py = python_kernel_cost(potential, n_py, args.python_steps)
        print(f"\nPython-side kernel (MTPModel.calculator, 1 thread), {py['atoms']} atoms: "
              f"{py['us_per_atom_step']:.2f} µs/atom-step (median of {py['steps']}, "
              f"{py['neighbour_builds']} list build(s))  {py['load']}")
        if n_py in lmp_cost:
            print(f"LAMMPS 1 rank / Python kernel per-atom-step cost: {lmp_cost[n_py] / py['us_per_atom_step']:.2f}")
    # the 1-rank cost of every size, and the last run (the largest size on the last --ranks entry) in full
    figures = {"lammps_1_rank_us_per_atom_step": {f"{n}_atoms": v for n, v in lmp_cost.items()},
               f"lammps_{res['ranks']}_ranks_{res['atoms']}_atoms": {
                   k: res[k] for k in ("steps", "atom_steps_per_s", "us_per_atom_step_core", "peak_MiB_per_rank")},
               "python_kernel": {k: py[k] for k in ("atoms", "steps", "us_per_atom_step")},
               "teacher_us_per_atom_step": teacher_us}
    print(write_record("lammps_speed", figures, max(args.ranks), process_seconds()))


if __name__ == "__main__":
    main()
