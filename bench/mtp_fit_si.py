"""Fit an MTP directly on the mlearn Si training frames and report test errors.

    python bench/mtp_fit_si.py [--level 16] [--iters 500] [--threads 2]

Reference (motep 0.2.0, measured by the project lead, level 16, R_min 1.8, R_cut 5, radial
basis 8, BFGS 500 it): 3197 s; test energy MAE 3.6 meV/atom, force MAE 80.5 meV/Å, stress MAE
0.41 GPa; level 8: 139 s, 11.6 / 166.8 / 0.82.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from unihub.finetune.mtp.fit import FitConfig, fit
from unihub.finetune.mtp.model import MTPModel
from unihub.foundation.data.frame import Frame, voigt6_to_3x3
from unihub.foundation.data.units import EV_A3_TO_GPA

MOTEP = {16: (3197, 3.6, 80.5, 0.41), 8: (139, 11.6, 166.8, 0.82)}
DATA = Path(os.environ.get("UNIHUB_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_mlearn(split: str) -> list[Frame]:
    """mlearn maml json -> Frames. Private until unihub.foundation.data grows an mlearn reader.

    virial_stress is kbar, pressure-positive, order xx yy zz xy yz zx."""
    try:  # prefer the shared reader when it exists
        from unihub.foundation.data import load_dataset  # type: ignore[attr-defined]

        return list(load_dataset("mlearn", split=split, elements=["Si"]))
    except Exception:
        pass
    recs = json.loads((DATA / "train" / "mlearn" / "Si" / f"{split}.json").read_text())
    frames = []
    for r in recs:
        st = r["structure"]
        cell = np.array(st["lattice"]["matrix"], float)
        pos = np.array([s["xyz"] for s in st["sites"]], float)
        from ase.data import atomic_numbers

        nums = [atomic_numbers[s["species"][0]["element"]] for s in st["sites"]]
        out = r["outputs"]
        stress = -voigt6_to_3x3(np.array(out["virial_stress"]) * 0.1 / EV_A3_TO_GPA, "xx yy zz xy yz zx")
        frames.append(Frame(nums, pos, cell, [True] * 3, energy=out["energy"], forces=out["forces"],
                            stress=stress, dataset="mlearn-Si", group=str(r.get("group", ""))))
    return frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--out", default=None, help="write the fitted .mtp here")
    args = ap.parse_args()
    train, test = load_mlearn("training"), load_mlearn("test")
    print(f"mlearn Si: {len(train)} train frames ({sum(map(len, train))} atoms), {len(test)} test frames")
    model = MTPModel.from_level(args.level, ["Si"], min_dist=1.8, max_dist=5.0, radial_basis_size=8,
                                seed=args.seed)
    t0 = time.perf_counter()
    test_ds = None

    def report(it: int, loss: float) -> None:
        nonlocal test_ds
        if it % args.log_every:
            return
        from unihub.finetune.mtp.fit import errors, prepare

        if test_ds is None:
            test_ds = prepare(model, test)
        e = errors(model, *test_ds, args.threads)
        print(f"  it {it:4d} {time.perf_counter() - t0:6.0f} s loss {loss:.4e}  test E {e['energy_mae']:.2f} "
              f"F {e['force_mae']:.1f} S {e['stress_mae']:.3f}", flush=True)

    res = fit(model, train, test, FitConfig(max_iter=args.iters, threads=args.threads, seed=args.seed,
                                            progress=False), on_iteration=report)
    dt = time.perf_counter() - t0
    tr, te = res.train, res.valid
    print(f"level {args.level}, {args.iters} BFGS iterations, {args.threads} threads: {dt:.0f} s")
    print(f"  train: E {tr['energy_mae']:.2f} meV/atom  F {tr['force_mae']:.1f} meV/Å  S {tr['stress_mae']:.3f} GPa")
    print(f"  test:  E {te['energy_mae']:.2f} meV/atom  F {te['force_mae']:.1f} meV/Å  S {te['stress_mae']:.3f} GPa")
    if args.level in MOTEP:
        t, e, f, s = MOTEP[args.level]
        print(f"  motep (lead's run): {t} s, test E {e} / F {f} / S {s}")
        print(f"  ratio unihub/motep: time {dt / t:.3f}, E {te['energy_mae'] / e:.2f}, "
              f"F {te['force_mae'] / f:.2f}, S {te['stress_mae'] / s:.2f}")
    if args.out:
        model.save(args.out)


if __name__ == "__main__":
    main()
