"""MTP students in LAMMPS: throughput on 1 and N MPI ranks, memory, and cost vs the Python-side kernel.

    python bench/lammps_speed.py [--sizes 32000 1000000] [--ranks 1 2] [--steps 50 3] [--potential si16.mtp]

The potential is a level-16 Si MTP (linear fit to LAMMPS' Stillinger-Weber Si on rattled 64-atom
cells, so MD stays physical) unless ``--potential`` names one. Cells are diamond Si (a = 5.43 Å)
built by LAMMPS' ``create_atoms``, started at 300 K, NVE, neighbour skin 1 Å. Every run is a fresh
``mpiexec -n R lmp``; its time is LAMMPS' "Loop time" (MD steps, without setup). Peak memory is the
max RSS of each rank's process. In the same run the Python-side kernel (``MTPModel.calculator()``,
1 thread, neighbour list reused under small displacements) is timed on the smallest cell, so the
per-atom-step costs are side by side. ``--native-sw`` also runs LAMMPS' own Stillinger-Weber Si on the same
cells and ranks, the cost of a classical potential in the same harness. The 1-minute load average is printed
with every timing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from unihub.foundation.timing import load_text, time_calculator

A_SI = 5.43
SI = ("Si", "diamond", A_SI)
CUBIC_SITES = {"diamond": 8, "fcc": 4, "bcc": 2}  # atoms per conventional cubic cell (LAMMPS' lattice)
# runs one rank's lmp and reports its peak RSS: the processes mpiexec starts are this wrapper
_RANK_WRAPPER = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run(sys.argv[1:], close_fds=False).returncode\n"
                 "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
                 "print(f'UNIHUB_PEAK_KB {peak}', file=sys.stderr, flush=True)\n"
                 "sys.exit(rc)\n")


def fit_potential(path: Path, level: int = 16) -> None:
    """A level-``level`` Si MTP fitted (linear) to Stillinger-Weber labels computed by LAMMPS."""
    from unihub.finetune.mtp.lammps.reference import sw_fitted_si

    train = sw_fitted_si(path, level, n_frames=24)
    print(f"fitted level-{level} Si MTP to SW: force MAE {train['force_mae_meV_A']:.0f} meV/Å", flush=True)


def cell_of(phase: tuple[str, str, float], target: int):
    """A rattled cubic supercell of ``phase`` (element, lattice, a) with about ``target`` atoms."""
    from ase.build import bulk

    el, kind, a0 = phase
    reps = max(1, round((target / CUBIC_SITES[kind]) ** (1 / 3)))
    atoms = bulk(el, kind, a=a0, cubic=True) * (reps, reps, reps)
    atoms.rattle(0.01, seed=0)
    return atoms


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


def pair_lines(potential: Path | str, element: str) -> list[str]:
    """LAMMPS lines for the student's pair style, or for LAMMPS' own Stillinger-Weber Si if ``potential`` is "sw"."""
    from unihub.finetune.mtp.lammps import build_plugin
    from unihub.finetune.mtp.lammps.runtime import find_install

    if str(potential) == "sw":
        sw = find_install().package / "share" / "lammps" / "potentials" / "Si.sw"
        return ["pair_style sw", f'pair_coeff * * "{sw}" {element}']
    return [f'plugin load "{build_plugin()}"', "pair_style unihub/mtp", f'pair_coeff * * "{potential}" {element}']


def lammps_input(path: Path, potential: Path | str, n_atoms: int, steps: int,
                 phase: tuple[str, str, float] = SI) -> None:
    """NVE at 300 K of ``n_atoms`` of one element in a cubic ``phase`` (element, lattice, a in Å)."""
    from ase.data import atomic_masses, atomic_numbers

    el, kind, a = phase
    nx, ny, nz = box_repeats(n_atoms, CUBIC_SITES[kind])
    path.write_text("\n".join([
        "units metal", "atom_style atomic", "boundary p p p",
        f"lattice {kind} {a}", f"region box block 0 {nx} 0 {ny} 0 {nz}", "create_box 1 box",
        "create_atoms 1 box", f"mass 1 {atomic_masses[atomic_numbers[el]]:.4f}", *pair_lines(potential, el),
        "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
        "velocity all create 300 4928459 mom yes rot no loop geom", "fix 1 all nve", "timestep 0.001",
        "thermo 10", f"run {steps}"]) + "\n")


def run_lammps(workdir: Path, ranks: int, potential: Path | str, n_atoms: int, steps: int,
               phase: tuple[str, str, float] = SI) -> dict:
    from unihub.finetune.mtp.lammps.runtime import find_install

    inst = find_install()
    inp = workdir / f"in.{n_atoms}.{ranks}"
    log = workdir / f"log.{n_atoms}.{ranks}"
    lammps_input(inp, potential, n_atoms, steps, phase)
    cmd = [str(inst.mpiexec), "-n", str(ranks), sys.executable, "-c", _RANK_WRAPPER, str(inst.executable),
           "-in", str(inp), "-log", str(log), "-screen", "none", "-nocite"]
    before = load_text()
    res = subprocess.run(cmd, env=inst.env(), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"LAMMPS failed:\n{log.read_text()[-2000:] if log.exists() else ''}\n{res.stderr[-2000:]}")
    text = log.read_text()
    m = re.search(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", text)
    seconds, n_steps, atoms = float(m.group(1)), int(m.group(3)), int(m.group(4))
    peaks = [int(k) / 1024 for k in re.findall(r"UNIHUB_PEAK_KB (\d+)", res.stderr)]
    return {"ranks": ranks, "atoms": atoms, "steps": n_steps, "seconds": seconds,
            "atom_steps_per_s": atoms * n_steps / seconds, "us_per_atom_step_core": seconds * ranks / (atoms * n_steps)
            * 1e6, "peak_MiB_per_rank": peaks, "load": f"{before} -> {load_text()}"}


def python_kernel_cost(potential: Path, n_atoms: int, steps: int) -> dict:
    """µs per atom-step of MTPModel.calculator() (1 thread, neighbour list reused), as bench/mtp_speed.py."""
    from ase.build import bulk

    from unihub.finetune.mtp.model import MTPModel

    atoms = bulk("Si", "diamond", a=A_SI, cubic=True).repeat(box_repeats(n_atoms))
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
                res = run_lammps(work, r, potential, n, steps[n])
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
                    sw = run_lammps(work, r, "sw", n, steps[n])
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
    from record import process_seconds, write_record

    # the 1-rank cost of every size, and the last run (the largest size on the last --ranks entry) in full
    figures = {"lammps_1_rank_us_per_atom_step": {f"{n}_atoms": v for n, v in lmp_cost.items()},
               f"lammps_{res['ranks']}_ranks_{res['atoms']}_atoms": {
                   k: res[k] for k in ("steps", "atom_steps_per_s", "us_per_atom_step_core", "peak_MiB_per_rank")},
               "python_kernel": {k: py[k] for k in ("atoms", "steps", "us_per_atom_step")},
               "teacher_us_per_atom_step": teacher_us}
    print(write_record("lammps_speed", figures, max(args.ranks), process_seconds()))


if __name__ == "__main__":
    main()
