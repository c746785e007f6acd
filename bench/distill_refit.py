"""Refit a level-16 student on the teacher labels a distillation kept, to compare fitting choices on
identical data, and score each fit against the system's DFT test frames (per group).

    python bench/distill_refit.py wbe --labels .cache/bench/distill-v10/wbe --iters 800 2000 \\
        --relative-forces none 1.0 [--force-weights 0.01 0.1] [--threads 2] [--out .cache/bench/refit-wbe.json]

Each variant (every relative-force F0 with every force weight) fits from the same seed on the saved
training labels (no active learning: the labels already hold those rounds), scored after each number of
BFGS iterations in ``--iters`` (one fit, continued from one checkpoint to the next). Reported:
student-vs-teacher on the held-out labels, student-vs-DFT force MAE overall and by group, and the ratio
to the teacher's force MAE on the same DFT frames.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from distill_study import SYSTEMS, errors_of

from finetune.mtp import FitConfig, MTPModel, fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("--labels", required=True, help="a distilled student's folder (labels.extxyz, labels.json)")
    ap.add_argument("--teacher", default="universal-v1")
    ap.add_argument("--iters", type=int, nargs="+", default=[800], help="cumulative iterations to score at")
    ap.add_argument("--relative-forces", nargs="+", default=["none"], help="F0 values in eV/Å, or none")
    ap.add_argument("--force-weights", type=float, nargs="+", default=[FitConfig.force_weight],
                    help="weights of the force term, on (eV/Å)^2 against energies on (eV/atom)^2")
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from finetune.distill.distill import load_reference, pick_r_min
    from finetune.distill.labels import load_labels
    from finetune.mtp.fit import errors, prepare
    from zoo import load_model

    spec = SYSTEMS[args.system]
    folder = Path(args.labels)
    state = json.loads((folder / "labels.json").read_text())
    train, held_out, _ = load_labels(folder, {k: state[k] for k in ("teacher_revision", "head", "elements", "seed")})
    _, test = load_reference(spec["dft"], spec["elements"])
    teacher = errors_of(load_model(args.teacher), test)
    print(f"{len(train)} train / {len(held_out)} held-out labels; teacher vs DFT F MAE {teacher['force_mae']:.1f}",
          flush=True)
    r_min = pick_r_min(train + held_out)
    res = {"labels": str(folder), "iters": args.iters, "level": args.level, "r_min": r_min, "teacher": teacher,
           "variants": {}}
    for f0, fw in [(f0, fw) for f0 in args.relative_forces for fw in args.force_weights]:
        rel = None if f0.lower() == "none" else float(f0)
        mtp = MTPModel.from_level(args.level, spec["elements"], min_dist=r_min, max_dist=5.0, seed=0)
        t0, done = time.perf_counter(), 0
        for iters in sorted(args.iters):
            fit(mtp, train, None, FitConfig(max_iter=iters - done, threads=args.threads, seed=0, progress=False,
                                            force_relative=rel, force_weight=fw))
            done = iters
            key = f"{f0},fw{fw:g}@{iters}"
            path = folder.parent / f"refit-{args.system}-{key}.mtp"
            mtp.save(path)
            dft = errors_of(load_model(path), test)
            held = errors(mtp, *prepare(mtp, held_out), args.threads)
            res["variants"][key] = {"seconds": time.perf_counter() - t0, "held_out": held, "dft": dft,
                                    "over_teacher": dft["force_mae"] / teacher["force_mae"]}
            print(f"relative forces {f0}, force weight {fw:g}, {iters} iterations: "
                  f"held-out F MAE {held['force_mae']:.1f}, vs DFT "
                  f"{dft['force_mae']:.1f} ({dft['force_mae'] / teacher['force_mae']:.2f}x teacher), "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    groups = teacher["force_mae_by_group"]
    print(f"{'group':28s} {'teacher':>8s} " + " ".join(f"{f0:>8s}" for f0 in res["variants"]))
    for g in groups:
        print(f"{g:28s} {groups[g]:8.1f} "
              + " ".join(f"{v['dft']['force_mae_by_group'][g]:8.1f}" for v in res["variants"].values()))
    out = Path(args.out or folder.parent / f"refit-{args.system}.json")
    out.write_text(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
