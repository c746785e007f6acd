"""MTP evaluation speed: unihub's compiled kernel vs motep's ``cext`` engine, side by side.

    python bench/mtp_speed.py [--levels 8 16 20] [--threads 1 2] [--steps 5] [--memory]

Same run, same ``.mtp`` file (three species Si/Ge/Sn, random coefficients), same cells: diamond
Si 512 and 4096 atoms and a random Si/Ge/Sn ternary with 512 atoms. Each step moves the atoms a
little (1e-3 Å) so both calculators reuse their neighbour lists (each has a Verlet skin), as in
MD. Times are µs per atom-step (median over steps). Thread counts are applied by running each
setting in a fresh process with OMP_NUM_THREADS set; motep's cext is serial, so its 2-thread
numbers show only noise. ``--memory`` also reports the peak memory of one energy+forces+stress
evaluation of a 10^6-atom Si cell with unihub.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ELEMENTS = ["Si", "Ge", "Sn"]


def cells():
    from ase.build import bulk

    si = bulk("Si", "diamond", a=5.43, cubic=True)
    out = {"Si-512": si.repeat(4), "Si-4096": si.repeat(8)}
    tern = bulk("Si", "diamond", a=5.6, cubic=True).repeat(4)
    tern.numbers = np.random.default_rng(0).choice([14, 32, 50], size=len(tern))
    out["SiGeSn-512"] = tern
    for a in out.values():
        a.rattle(0.02, seed=1)
    return out


def write_potential(level: int, path: Path) -> None:
    from unihub.finetune.mtp.model import MTPModel

    m = MTPModel.from_level(level, ELEMENTS, min_dist=1.8, max_dist=5.0, radial_basis_size=8, seed=level)
    rng = np.random.default_rng(level)
    m.params.moment_coeffs = rng.normal(scale=1e-3, size=m.params.n_scalar)
    m.params.species_coeffs = np.array([-5.0, -4.5, -4.0])
    m.save(path)


def time_calc(make_calc, atoms, steps: int) -> float:
    """µs per atom-step (median over ``steps`` after one warm-up) of a fresh calculator from ``make_calc``."""
    from unihub.foundation.timing import time_calculator

    return time_calculator(make_calc(), atoms, steps).us_per(len(atoms))


def worker(levels, steps, tmp: Path) -> dict:
    from motep.calculator import MTP
    from motep.io.mlip.mtp import read_mtp as motep_read

    from unihub.finetune.mtp.model import MTPModel

    out = {}
    for level in levels:
        path = tmp / f"L{level}.mtp"
        model = MTPModel.load(path)
        data = motep_read(path)
        data.species = [14, 32, 50]
        for name, atoms in cells().items():
            n_steps = max(2, steps if len(atoms) < 1000 else steps // 2)
            # motep's calculator cannot be reused across atom counts: one per cell
            tu = time_calc(lambda m=model: m.calculator(skin=0.5), atoms, n_steps)
            tm = time_calc(lambda d=data: MTP(d, engine="cext"), atoms, n_steps)
            out[f"{level}/{name}"] = (tu, tm)
            print(f"    level {level:2d} {name:11s} unihub {tu:8.2f}  motep {tm:8.2f}  x{tm / tu:5.2f}",
                  file=sys.stderr, flush=True)
    return out


def memory_worker(level: int, tmp: Path) -> dict:
    import resource

    from ase.build import bulk

    from unihub.finetune.mtp.model import MTPModel

    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(50)  # 10^6 atoms
    model = MTPModel.load(tmp / f"L{level}.mtp")
    atoms.calc = model.calculator(skin=0.5)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    atoms.get_forces()
    atoms.get_stress()
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"atoms": len(atoms), "peak_MiB": peak, "before_MiB": base, "seconds": dt,
            "pairs": int(len(atoms.calc.nlist._j))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[8, 16, 20])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        tmp = Path(args.worker)
        res = memory_worker(args.levels[0], tmp) if args.memory else worker(args.levels, args.steps, tmp)
        print(json.dumps(res))
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for level in args.levels:
            write_potential(level, tmp / f"L{level}.mtp")
        results = {}
        for th in args.threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th), MKL_NUM_THREADS=str(th))
            print(f"threads={th}", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--worker", str(tmp), "--steps", str(args.steps), "--levels",
                   *map(str, args.levels)]
            r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
            results[th] = json.loads(r.stdout.strip().splitlines()[-1])
        print("\nµs per atom-step (lower is better); ratio = motep / unihub")
        print(f"{'level':>5} {'cell':11s} {'thr':>3} {'unihub':>9} {'motep-cext':>11} {'ratio':>6}")
        for key in results[args.threads[0]]:
            level, name = key.split("/")
            for th in args.threads:
                tu, tm = results[th][key]
                print(f"{level:>5} {name:11s} {th:3d} {tu:9.2f} {tm:11.2f} {tm / tu:6.2f}")
        if args.memory:
            level = 16 if 16 in args.levels else args.levels[0]
            env = dict(os.environ, OMP_NUM_THREADS=str(max(args.threads)))
            cmd = [sys.executable, __file__, "--worker", str(tmp), "--memory", "--levels", str(level)]
            r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
            m = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"\nmemory, level {level}, {m['atoms']} Si atoms ({m['pairs']} listed pairs incl. skin), "
                  f"{max(args.threads)} threads: peak RSS {m['peak_MiB']:.0f} MiB "
                  f"({m['before_MiB']:.0f} MiB before the first evaluation), first evaluation {m['seconds']:.1f} s")
    from record import process_seconds, write_record

    figures: dict = {f"level_{key.replace('/', '_')}_{th}_threads": {
        "unihub_us_per_atom_step": results[th][key][0], "motep_us_per_atom_step": results[th][key][1],
        "motep_over_unihub": results[th][key][1] / results[th][key][0]}
        for key in results[args.threads[0]] for th in args.threads}
    if args.memory:
        figures["memory"] = {"level": level, "atoms": m["atoms"], "peak_MiB": m["peak_MiB"],
                             "before_MiB": m["before_MiB"], "first_evaluation_s": m["seconds"]}
    print(write_record("mtp_speed", figures, max(args.threads), process_seconds()))


if __name__ == "__main__":
    main()
