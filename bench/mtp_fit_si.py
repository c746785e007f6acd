"""Fit an MTP directly on the mlearn Si training frames and report test errors.

    python bench/mtp_fit_si.py [--level 16] [--iters 500] [--threads 2]

Reference (motep 0.2.0, measured by the project lead, level 16, R_min 1.8, R_cut 5, radial
basis 8, BFGS 500 it): 3197 s; test energy MAE 3.6 meV/atom, force MAE 80.5 meV/Å, stress MAE
0.41 GPa; level 8: 139 s, 11.6 / 166.8 / 0.82. Errors here are ``unihub.foundation.metrics.array_errors``:
raw energies, and stress over all nine components (off-diagonals counted twice); motep's stress figure may
average other components, so the stress ratio is a rough one.
"""

from __future__ import annotations

import argparse
import time

from record import mlearn_frames, write_record

from unihub.finetune.mtp.fit import FitConfig, fit
from unihub.finetune.mtp.model import MTPModel

MOTEP = {16: (3197, 3.6, 80.5, 0.41), 8: (139, 11.6, 166.8, 0.82)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--out", default=None, help="write the fitted .mtp here")
    args = ap.parse_args()
    train, test = mlearn_frames("Si")  # the dataset card's reader: training.json and test.json
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
        print(f"  it {it:4d} {time.perf_counter() - t0:6.0f} s loss {loss:.4e}  "
              f"test E {e['energy_mae_meV_atom_raw']:.2f} F {e['force_mae_meV_A']:.1f} S {e['stress_mae_GPa']:.3f}",
              flush=True)

    res = fit(model, train, test, FitConfig(max_iter=args.iters, threads=args.threads, seed=args.seed,
                                            progress=False), on_iteration=report)
    dt = time.perf_counter() - t0
    tr, te = res.train, res.valid
    print(f"level {args.level}, {args.iters} BFGS iterations, {args.threads} threads: {dt:.0f} s")
    for name, v in (("train", tr), ("test", te)):
        print(f"  {name + ':':6s} E {v['energy_mae_meV_atom_raw']:.2f} meV/atom  F {v['force_mae_meV_A']:.1f} meV/Å  "
              f"S {v['stress_mae_GPa']:.3f} GPa")
    if args.level in MOTEP:
        t, e, f, s = MOTEP[args.level]
        print(f"  motep (lead's run): {t} s, test E {e} / F {f} / S {s}")
        print(f"  ratio unihub/motep: time {dt / t:.3f}, E {te['energy_mae_meV_atom_raw'] / e:.2f}, "
              f"F {te['force_mae_meV_A'] / f:.2f}, S {te['stress_mae_GPa'] / s:.2f}")
    if args.out:
        model.save(args.out)
    keys = ("energy_mae_meV_atom_raw", "force_mae_meV_A", "stress_mae_GPa")
    figures = {"level": args.level, "bfgs_iterations": args.iters, "train_frames": len(train), "test_frames": len(test),
               "fit_wall_s": dt, **{f"{name}_{k}": v[k] for name, v in (("train", tr), ("test", te)) for k in keys}}
    if args.level in MOTEP:  # the lead's motep run, for the ratios printed above
        figures["motep_reference"] = dict(zip(("fit_wall_s", *(f"test_{k}" for k in keys)),
                                              MOTEP[args.level]))
    print(write_record("mtp_fit_si", figures, args.threads, dt))


if __name__ == "__main__":
    main()
