"""Wall time of one default fine-tuning run (the CLI's defaults) on 100 training frames of one mlearn element.

    UNIHUB_DATA=../shared/data UNIHUB_CACHE=.cache python bench/finetune_speed.py [--element Si --threads 2]

Target: under 10 minutes on 2 CPU cores. Prints the wall time, the optimiser steps and the test errors, and
writes them as the run's record under bench/results/.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from record import mlearn_frames, write_record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="universal-v1")
    p.add_argument("--element", default="Si")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    from unihub.finetune import finetune
    from unihub.zoo import load_model

    train, test = mlearn_frames(args.element)
    subset = [train[i] for i in np.sort(np.random.default_rng(0).permutation(len(train))[:args.frames])]
    base = load_model(args.base)
    t0 = time.perf_counter()
    model = finetune(base, subset, test=test, threads=args.threads)  # every other setting: the defaults
    wall = time.perf_counter() - t0
    ft = model.extra_config["finetune"]
    steps = ft["method"]["epochs"] * -(-len(subset) // ft["method"]["batch_size"])
    rec = {"base": args.base, "element": args.element, "frames": len(subset), "finetune_wall_s": wall,
           "epochs": ft["method"]["epochs"], "steps": steps, "test_errors_before": ft["errors"]["before"],
           "test_errors_after": ft["errors"]["after"]}
    print(f"fine-tuned {args.base} on {len(subset)} {args.element} frames: {wall:.0f} s wall "
          f"({steps} steps, {args.threads} threads); test force MAE {rec['test_errors_before']['forces_mev_a']:.1f} → "
          f"{rec['test_errors_after']['forces_mev_a']:.1f} meV/Å")
    print(write_record("finetune_speed", rec, args.threads, wall))


if __name__ == "__main__":
    main()
