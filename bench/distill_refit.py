"""Refit students on the teacher labels a distillation kept, to compare fitting choices on identical
data, and score each fit against the system's DFT test frames (per group).

    python bench/distill_refit.py --labels .cache/bench/distill-v10/wbe [--config my-grid.yaml] \\
        [--threads 2] [--out .cache/bench/refit-wbe.json] [--append | --speed-only]

The grid (levels, cutoffs, relative-force F0, force weights, iterations), the system and the teacher are the
config's (``bench/configs/distill_refit.yaml``; a ``--config`` file overrides any of them).

Each variant (every level, cutoff, relative-force F0 and force weight) fits from the same seed on the
saved training labels (no active learning: the labels already hold those rounds), scored after each
number of BFGS iterations in ``iters`` (one fit, continued from one checkpoint to the next). Reported:
student-vs-teacher on the held-out labels, student-vs-DFT force MAE overall and by group, and the ratio
to the teacher's force MAE on the same DFT frames. ``speed: true`` adds the cost side, in this one run: the
teacher's µs per atom-step (ASE, ``--threads`` threads, ~512 atoms of the system's phase) and each final
student's in LAMMPS (~4096 atoms, 1 rank and ``--threads`` ranks), with a plot of force error against cost.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from record import cell_of, frame_errors_by_group, lammps_student_cost, load_config, write_record

from unihub.finetune.mtp import FitConfig, MTPModel, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="YAML settings (default: bench/configs/distill_refit.yaml)")
    ap.add_argument("--labels", required=True, help="a distilled student's folder (labels.extxyz, labels.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="the refits' JSON (default: refit-<system>.json next to --labels)")
    ap.add_argument("--append", action="store_true", help="add this run's variants to the ones in --out's JSON")
    ap.add_argument("--speed-only", action="store_true",
                    help="no fitting: time the teacher and the students an earlier run saved in --out's JSON")
    args = ap.parse_args()
    cfg = load_config(args.config, "distill_refit")
    spec = load_config(None, f"distill_{cfg['system']}")
    spec["phase"] = tuple(spec["phase"])
    args.system, args.teacher, args.speed = cfg["system"], cfg["teacher"], cfg["speed"]

    import torch

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    folder = Path(args.labels)
    out = Path(args.out or folder.parent / f"refit-{args.system}.json")
    if args.speed_only:
        if not out.exists():
            raise SystemExit(f"--speed-only times the students of an earlier run: {out} does not exist (see --out)")
        res = retime(json.loads(out.read_text()), spec, folder, out, args)
    else:
        res = refit(cfg, spec, folder, out, args)
    print(write_record(f"distill_refit-{args.system}", record_figures(res), args.threads,
                       time.perf_counter() - t_start))


def refit(cfg: dict, spec: dict, folder: Path, out: Path, args) -> dict:
    """Fit every variant of the grid on the kept labels, score it, and write ``out`` (and its plot with speed)."""
    from unihub.finetune.distillation.distill import load_reference, pick_r_min
    from unihub.finetune.distillation.labels import load_labels
    from unihub.finetune.mtp.fit import errors, prepare
    from unihub.zoo import load_model

    state = json.loads((folder / "labels.json").read_text())
    train, held_out, _ = load_labels(folder, {k: state[k] for k in ("teacher_revision", "head", "elements", "seed")})
    _, test = load_reference(spec["dft"], spec["elements"])
    teacher = frame_errors_by_group(load_model(args.teacher), test)
    print(f"{len(train)} train / {len(held_out)} held-out labels; teacher vs DFT F MAE "
          f"{teacher['force_mae_meV_A']:.1f}",
          flush=True)
    r_min = pick_r_min(train + held_out)
    res = {"labels": str(folder), "iters": cfg["iters"], "r_min": r_min, "teacher": teacher, "variants": {}}
    if args.append and out.exists():
        earlier = json.loads(out.read_text())
        if earlier["labels"] != res["labels"] or earlier["r_min"] != r_min:
            raise SystemExit(f"{out} holds fits on other labels ({earlier['labels']}): not appending")
        res["variants"] = earlier["variants"]
    if args.speed:
        res.update(time_teacher(spec, args))
    grid = [(lv, rc, str(f0), fw) for lv in cfg["levels"] for rc in cfg["cutoffs"] for f0 in cfg["relative_forces"]
            for fw in cfg["force_weights"]]
    for level, rc, f0, fw in grid:
        rel = None if f0.lower() == "none" else float(f0)
        mtp = MTPModel.from_level(level, spec["elements"], min_dist=r_min, max_dist=rc, seed=0)
        t0, done = time.perf_counter(), 0
        for iters in sorted(cfg["iters"]):
            fit(mtp, train, None, FitConfig(max_iter=iters - done, threads=args.threads, seed=0, progress=False,
                                            force_relative=rel, force_weight=fw))
            done = iters
            key = f"L{level},rc{rc:g},{f0},fw{fw:g}@{iters}"
            path = folder.parent / f"refit-{args.system}-{key}.mtp"
            mtp.save(path)
            dft = frame_errors_by_group(load_model(path), test)
            held = errors(mtp, *prepare(mtp, held_out), args.threads)
            res["variants"][key] = {"level": level, "cutoff": rc, "seconds": time.perf_counter() - t0, "held_out": held,
                                    "dft": dft, "over_teacher": dft["force_mae_meV_A"] / teacher["force_mae_meV_A"]}
            print(f"level {level}, cutoff {rc:g} Å, relative forces {f0}, force weight {fw:g}, {iters} iterations: "
                  f"held-out F MAE {held['force_mae_meV_A']:.1f}, vs DFT "
                  f"{dft['force_mae_meV_A']:.1f} ({dft['force_mae_meV_A'] / teacher['force_mae_meV_A']:.2f}x teacher), "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        if args.speed:
            res["variants"][key].update(time_student(path, spec, res["teacher_us_per_atom_step"], args))
    groups = teacher["force_mae_meV_A_by_group"]
    print(f"{'group':28s} {'teacher':>8s} " + " ".join(f"{f0:>8s}" for f0 in res["variants"]))
    for g in groups:
        print(f"{g:28s} {groups[g]:8.1f} "
              + " ".join(f"{v['dft']['force_mae_meV_A_by_group'][g]:8.1f}" for v in res["variants"].values()))
    out.write_text(json.dumps(res, indent=1, default=float))
    if args.speed:
        plot(res, args, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
    return res


def record_figures(res: dict) -> dict:
    """The record's figures: the teacher's DFT errors and cost, and per variant its errors, ratio, time and cost."""
    figures = {"labels": res["labels"], "teacher": dict(res["teacher"]),
               "teacher_us_per_atom_step": res.get("teacher_us_per_atom_step"), "variants": {}}
    for key, v in res["variants"].items():
        row = {"fit_seconds": v["seconds"], "held_out_force_mae_meV_A": v["held_out"]["force_mae_meV_A"],
               "held_out_energy_mae_meV_atom_raw": v["held_out"]["energy_mae_meV_atom_raw"],
               "dft_force_mae_meV_A": v["dft"]["force_mae_meV_A"],
               "dft_energy_mae_meV_atom_raw": v["dft"]["energy_mae_meV_atom_raw"],
               "force_mae_over_teacher": v["over_teacher"]}
        row.update({f"{k}_us_per_atom_step": r["us_per_atom_step"] for k, r in v.items() if k.startswith("lammps_")})
        figures["variants"][key] = row
    return figures


def time_teacher(spec: dict, args, calls: int = 20) -> dict:
    """The teacher's µs per atom-step on ~512 atoms of the system's phase, ``--threads`` threads."""
    from unihub.foundation.timing import time_calculator
    from unihub.zoo import load_model

    cell = cell_of(spec["phase"], 512)
    us = time_calculator(load_model(args.teacher).calculator(), cell, calls).us_per(len(cell))
    print(f"teacher {us:.1f} µs/atom-step ({len(cell)} atoms, {args.threads} threads)", flush=True)
    return {"teacher_us_per_atom_step": us, "teacher_cell": {"atoms": len(cell), "threads": args.threads,
                                                             "calls": calls}}


def time_student(path: Path, spec: dict, teacher_us: float | None, args) -> dict:
    """A student's µs per atom-step in LAMMPS on 1 and ``--threads`` ranks, and its speed over the teacher's."""
    out = {}
    for ranks in sorted({1, args.threads}):
        lmp = lammps_student_cost(path, spec["phase"], ranks)
        out[f"lammps_{ranks}_ranks"] = lmp
        line = f"  {path.name}: LAMMPS {ranks} rank(s) {lmp['us_per_atom_step']:.2f} µs/atom-step"
        if teacher_us:
            lmp["ratio"] = teacher_us / lmp["us_per_atom_step"]
            line += f", {lmp['ratio']:.1f}x the teacher's speed"
        print(line, flush=True)
    return out


def retime(res: dict, spec: dict, folder: Path, out: Path, args) -> dict:
    """Time the teacher (before and after; the ratios use the mean) and every variant's final student of an
    earlier run, nothing else running in this process, and rewrite its JSON and plot."""
    before = time_teacher(spec, args)
    finals = {}
    for key in res["variants"]:
        finals[key.rsplit("@", 1)[0]] = key  # the last checkpoint of each variant (keys in iteration order)
    timed = {key: time_student(folder.parent / f"refit-{args.system}-{key}.mtp", spec, None, args)
             for key in finals.values()}
    after = time_teacher(spec, args)
    teacher_us = (before["teacher_us_per_atom_step"] + after["teacher_us_per_atom_step"]) / 2
    res.update(before, teacher_us_per_atom_step=teacher_us,
               teacher_us_before_after=[before["teacher_us_per_atom_step"], after["teacher_us_per_atom_step"]])
    for key, rows in timed.items():
        for row in rows.values():
            row["ratio"] = teacher_us / row["us_per_atom_step"]
        res["variants"][key].update(rows)
        print(f"{key}: " + ", ".join(f"{r['ranks']} rank(s) {r['us_per_atom_step']:.2f} µs/atom-step "
                                      f"= {r['ratio']:.1f}x" for r in rows.values()), flush=True)
    out.write_text(json.dumps(res, indent=1, default=float))
    plot(res, args, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return res


def plot(res: dict, args, path: Path) -> None:
    """Force error against DFT vs cost on the same cores (teacher on ``--threads`` threads, students
    on as many LAMMPS ranks), with the issue's bars: 1.3x the teacher's error, 1/300 of its cost."""
    from unihub.eval.plots import pareto

    ranks = f"lammps_{args.threads}_ranks"
    teacher_us, teacher_f = res["teacher_us_per_atom_step"], res["teacher"]["force_mae_meV_A"]
    points = {"teacher": (teacher_us, teacher_f)}
    timed = {key: v for key, v in res["variants"].items() if ranks in v}
    # "L14,rc5,none,fw0.1@800" -> "L14 rc5": only what tells the variants apart
    tokens = {key: key.rsplit("@", 1)[0].split(",") for key in timed}
    shared = set.intersection(*map(set, tokens.values())) if len(tokens) > 1 else set()
    for key, v in timed.items():
        name = " ".join(k for k in tokens[key] if k not in shared) or key
        points[name] = (v[ranks]["us_per_atom_step"], v["dft"]["force_mae_meV_A"])
    png = pareto(points, f"µs per atom-step on {args.threads} cores", "force MAE vs DFT (meV/Å)",
                 f"{args.system} students vs teacher", f"labels {res['labels']}; bench/distill_refit.py",
                 hlines={"1.3x teacher error": 1.3 * teacher_f}, vlines={"300x teacher speed": teacher_us / 300})
    path.write_bytes(png)


if __name__ == "__main__":
    main()
