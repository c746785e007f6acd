"""The tutorial's chain measured (finetune/TUTORIAL.md): a fine-tuned teacher and the MTP student distilled from it
on the system's DFT test split, the student's NVT at a fraction of the system's lowest estimated melting point, and
the student in LAMMPS on a cell of at least a million atoms next to universal-v2, the teacher, CHGNet and SevenNet-0
timed on a cell they hold.

    UNIHUB_DATA=../shared/data python bench/transfer_chain.py --teacher mine-ft --student mine-mtp.mtp \
        [--config bench/configs/transfer_chain.yaml] [--only errors nvt speed] --threads 2

Errors: ``unihub.foundation.metrics.frame_errors`` of both models on the card's test split (the teacher through the
head it was fine-tuned on). The NVT and timing structure is the system's DFT cell with the lowest melting estimate
(``composition_melting_point``, the one distillation heats by), the relaxed frame of its lowest-energy run; the NVT
runs in LAMMPS, as the student runs in production, and a close contact is a pair nearer than ``close_fraction``
of the shortest distance in the DFT frames, in frames dumped every 100 steps. LAMMPS timings are its own loop times
(``finetune.mtp.lammps.run_md``); the GNNs go through ``foundation.timing`` (energy, forces and stress per call).
The record goes to bench/results/transfer_chain-<system>-<date>-<sha>.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from record import load_config, write_record

STAGES = ("errors", "nvt", "speed")


def start_structure(frames: list):
    """(the DFT cell with the lowest melting estimate: its lowest-energy group's last frame, that estimate in K)."""
    from unihub.finetune.distillation.sampling import composition_melting_point

    by_formula: dict[str, list] = {}
    for f in frames:
        by_formula.setdefault(f.to_atoms().get_chemical_formula(mode="reduce"), []).append(f)
    tm = {k: composition_melting_point(v[0].to_atoms()) for k, v in by_formula.items()}
    formula = min(tm, key=tm.get)
    runs: dict[str, list] = {}
    for f in by_formula[formula]:
        runs.setdefault(f.group, []).append(f)
    last = [fs[-1] for fs in runs.values()]
    return min(last, key=lambda f: f.energy / len(f)).to_atoms(), tm[formula]


def shortest_distance(frames: list) -> float:
    """The shortest interatomic distance in any of ``frames`` (minimum image)."""
    from unihub.finetune.distillation.structures import min_distance

    return min(min_distance(f.to_atoms()) for f in frames)


def repeat_to(atoms, n_atoms: int):
    """``atoms`` repeated equally along each axis to at least ``n_atoms`` atoms."""
    reps = int(np.ceil((n_atoms / len(atoms)) ** (1 / 3)))
    return atoms * (reps, reps, reps)


def errors(teacher, student, frames: list) -> dict:
    """Test-split errors of teacher and student, and the student's force MAE over the teacher's."""
    from unihub.foundation.metrics import frame_errors

    head = (teacher.extra_config or {}).get("finetune", {}).get("method", {}).get("head")
    atoms = [f.to_atoms() for f in frames]
    out = {"teacher_head": head,
           "teacher": frame_errors(frames, teacher.predict(atoms, head=head)),
           "student": frame_errors(frames, student.predict(atoms))}
    out["student_over_teacher_force"] = out["student"]["force_mae_meV_A"] / out["teacher"]["force_mae_meV_A"]
    return out


def nvt(student_path: Path, start, melting_k: float, cfg: dict, d_min_dft: float) -> dict:
    """The student's NVT in LAMMPS at ``nvt_fraction`` of ``melting_k``: the closest pair in frames dumped every
    100 steps against the DFT's shortest distance, and the temperature it held."""
    from unihub.finetune.distillation.structures import min_distance
    from unihub.finetune.mtp.lammps import run_md

    atoms = repeat_to(start, cfg["nvt_atoms"])
    temperature = cfg["nvt_fraction"] * melting_k
    steps = int(round(cfg["nvt_ps"] * 1000))
    base = {"atoms": len(atoms), "steps": steps, "ps": cfg["nvt_ps"], "temperature_K": temperature,
            "melting_estimate_K": melting_k, "shortest_dft_A": d_min_dft,
            "close_contact_A": cfg["close_fraction"] * d_min_dft}
    try:
        res = run_md(student_path, atoms, steps, temperature, ensemble="nvt", ranks=1, thermo=100, dump=100)
    except Exception as e:  # LAMMPS ends a run that blew up (lost atoms, non-finite forces) with an error
        return {**base, "error": str(e).strip().splitlines()[0], "close_contacts": True, "min_pair_A": float("nan"),
                "mean_T_K": float("nan")}
    d_min = min(min_distance(a) for a in res.frames)
    temps = res.thermo["temp"][len(res.thermo["temp"]) // 5:]
    finite = bool(np.isfinite(res.thermo["pe"]).all())
    out = {**base, "mean_T_K": float(np.mean(temps)), "frames": len(res.frames), "min_pair_A": d_min,
           "finite": finite}
    out["close_contacts"] = not finite or d_min < out["close_contact_A"]
    return out


def speed(cfg: dict, student_path: Path, gnns: list, start, threads: int) -> dict:
    """µs/atom-step: the student in LAMMPS on each rank count and the GNNs through their ASE calculators."""
    import torch

    from unihub.eval.suites.cost import time_model
    from unihub.finetune.mtp.lammps import run_md

    torch.set_num_threads(threads)
    big = repeat_to(start, cfg["lammps_atoms"])
    out: dict = {"lammps": {}, "gnn": {}}
    for ranks in cfg["lammps_ranks"]:
        t0 = time.perf_counter()
        loop = run_md(student_path, big, cfg["lammps_steps"], 300.0, ensemble="nvt", ranks=ranks,
                      thermo=cfg["lammps_steps"]).loop
        out["lammps"][str(ranks)] = {"atoms": loop.atoms, "steps": loop.steps, "us_per_atom_step":
                                     loop.us_per_atom_step, "wall_s": time.perf_counter() - t0}
        print(f"student in LAMMPS, {ranks} rank(s), {loop.atoms} atoms: {loop.us_per_atom_step:.3f} µs/atom-step")
    cell = repeat_to(start, cfg["peer_atoms"])
    cell.rattle(0.01, seed=0)
    for m in gnns:
        us = 1e6 * time_model(m, cell, cfg["peer_repeats"]) / len(cell)
        out["gnn"][m.name] = {"atoms": len(cell), "us_per_atom_step": us}
        print(f"{m.name}: {us:.1f} µs/atom-step on {len(cell)} atoms")
    best = min(v["us_per_atom_step"] for v in out["lammps"].values())
    out["over_student"] = {k: v["us_per_atom_step"] / best for k, v in out["gnn"].items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True, help="the fine-tuned model folder (the student's teacher)")
    p.add_argument("--student", required=True, type=Path, help="the distilled student's .mtp file")
    p.add_argument("--config", help="YAML over bench/configs/transfer_chain.yaml")
    p.add_argument("--only", nargs="+", choices=STAGES, help="run these stages only (default: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="write no record in bench/results")
    args = p.parse_args()
    cfg = load_config(args.config, "transfer_chain")
    stages = args.only or STAGES
    t0 = time.perf_counter()

    import torch

    from unihub.eval.models import resolve_models, wrap_hub_model
    from unihub.eval.suites import pick
    from unihub.foundation.data import load_dataset
    from unihub.zoo import load_model

    torch.set_num_threads(args.threads)
    teacher, student = load_model(args.teacher), load_model(args.student)
    train = load_dataset(cfg["system"], split="train")
    test = pick(load_dataset(cfg["system"], split="test"), cfg["test_frames"], cfg["seed"])
    start, melting_k = start_structure(train)
    figures: dict = {"system": cfg["system"], "teacher": str(args.teacher), "student": args.student.name,
                     "start": start.get_chemical_formula(), "settings": cfg}
    if "errors" in stages:
        figures["errors"] = errors(teacher, student, test)
        e = figures["errors"]
        print(f"test split ({len(test)} frames): force MAE teacher {e['teacher']['force_mae_meV_A']:.1f}, student "
              f"{e['student']['force_mae_meV_A']:.1f} meV/Å ({e['student_over_teacher_force']:.2f}x)")
    if "nvt" in stages:
        figures["nvt"] = nvt(args.student, start, melting_k, cfg, shortest_distance(train + test))
        n = figures["nvt"]
        print(f"NVT {n['ps']} ps at {n['temperature_K']:.0f} K on {n['atoms']} atoms (mean {n['mean_T_K']:.0f} K): "
              f"closest pair {n['min_pair_A']:.2f} Å, close contact below {n['close_contact_A']:.2f} Å: "
              f"{'yes' if n['close_contacts'] else 'none'}" + (f" ({n['error']})" if "error" in n else ""))
    if "speed" in stages:
        gnns = [wrap_hub_model(teacher, "teacher"), *resolve_models(cfg["peers"])[0]]
        figures["speed"] = speed(cfg, args.student, gnns, start, args.threads)
        figures["speed"]["student_over_teacher_speed"] = figures["speed"]["over_student"].get("teacher")
    if not args.no_record:
        print(write_record(f"transfer_chain-{cfg['system']}", figures, args.threads, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
