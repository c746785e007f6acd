"""Distillation study: a teacher -> level-16 (``--level``) MTP student with no DFT labels seen by the student.

    python bench/distill_study.py si  --teacher universal-v1 [--threads 2] [--out .cache/bench/distill]
    python bench/distill_study.py wbe --teacher universal-v1 --budget 600

``si``: the student is made by ``unihub distill`` (run as ``python -m unihub distill`` in a
subprocess, timed from start to the validated student: its card carries its mlearn Si DFT test
errors). Then, in this one run: teacher and student errors on the mlearn Si test frames next to an
MTP fitted directly on the mlearn Si DFT training frames (same level, cutoff, iterations);
physical checks of student vs teacher (lattice constant and bulk modulus from an E(V) fit,
Gamma-point vibrational DOS of a 64-atom cell by finite differences, relaxed vacancy formation
energy, 20 ps NVT at 1.2x melting with the student: shortest pair distance); speed of student vs
teacher on the same cells and threads. ``wbe``: the same distillation for W-Be, errors against
the FitSNAP W-Be DFT test frames, and the same physical checks on bcc W (54-atom cells, NVT at 1.2x
the melting point of W).

The student is also timed in LAMMPS (~4096 atoms of the system's phase, 1 rank and ``--threads`` ranks), its
production engine.

Results go to ``OUT/<system>.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

SYSTEMS = {
    "si": {"elements": ["Si"], "dft": "mlearn:test", "train": "mlearn:train", "tm": 1687.0,
           "phase": ("Si", "diamond", 5.43)},
    "wbe": {"elements": ["W", "Be"], "dft": "fitsnap_WBe:test", "train": "fitsnap_WBe:train", "tm": 3695.0,
            "phase": ("W", "bcc", 3.17)},
}


def errors_of(model, frames) -> dict:
    """Energy MAE (meV/atom), force MAE (meV/Å) of any hub model on labelled frames, the force MAE
    also per group of the source (the part of ``Frame.group`` before the first '/')."""
    from unihub.foundation.metrics import frame_errors

    preds = model.predict([f.to_atoms() for f in frames])
    groups: dict[str, list] = {}
    for f, p in zip(frames, preds):
        groups.setdefault(f.group.split("/")[0] or "-", []).append((f, p))
    err = frame_errors(frames, preds)
    return {"energy_mae": err["energy_mae_meV_atom_raw"], "force_mae": err["force_mae_meV_A"],
            "force_mae_by_group": {g: frame_errors(*zip(*fp))["force_mae_meV_A"] for g, fp in sorted(groups.items())
                                   if any(f.forces is not None for f, _ in fp)}}


def eos(calc, phase) -> dict:
    """Lattice constant (Å) and bulk modulus (GPa) from a relaxed cell and an E(V) fit over ±4 % volume."""
    from ase.units import GPa

    from unihub.foundation.eos import birch_murnaghan
    from unihub.foundation.simulate import relax

    el, kind, a0 = phase
    atoms = bulk(el, kind, a=a0, cubic=True)
    relax(atoms, fmax=1e-3, cell=True, steps=300, calculator=calc, progress=False)
    vols, ens = [], []
    for s in np.linspace(0.96, 1.04, 9) ** (1 / 3):
        b = atoms.copy()
        b.set_cell(atoms.cell * s, scale_atoms=True)
        b.calc = calc
        vols.append(b.get_volume())
        ens.append(b.get_potential_energy())
    fit = birch_murnaghan(vols, ens)
    return {"a": float(np.cbrt(fit["V0"])), "B_GPa": float(fit["B0"] / GPa), "relaxed": atoms}


def gamma_vdos(model, cell, delta: float = 0.01) -> np.ndarray:
    """Frequencies (THz) at Gamma of ``cell`` from central finite differences, evaluated in one batch."""
    from ase.units import _amu, _e

    n = len(cell)
    disp = []
    for i in range(n):
        for k in range(3):
            for sgn in (1, -1):
                b = cell.copy()
                b.positions[i, k] += sgn * delta
                disp.append(b)
    preds = model.predict(disp)
    H = np.zeros((3 * n, 3 * n))
    for c in range(3 * n):
        fp, fm = preds[2 * c]["forces"], preds[2 * c + 1]["forces"]
        H[c] = -(fp - fm).ravel() / (2 * delta)
    H = 0.5 * (H + H.T)
    m = np.repeat(cell.get_masses(), 3)
    w2 = np.linalg.eigvalsh(H / np.sqrt(np.outer(m, m)))  # eV/Å²/amu
    w = np.sign(w2) * np.sqrt(np.abs(w2) * _e / _amu) * 1e10 / (2 * np.pi) / 1e12
    return np.sort(w)


def vacancy_energy(calc, relaxed, reps: int = 2) -> float:
    """Relaxed (positions, fixed cell) vacancy formation energy in a 2x2x2 conventional cell, eV."""
    from unihub.foundation.simulate import relax

    perfect = relaxed * (reps, reps, reps)
    perfect.calc = calc
    e0 = perfect.get_potential_energy()
    vac = perfect.copy()
    del vac[0]
    relax(vac, fmax=0.01, cell=False, steps=300, calculator=calc, progress=False)
    return float(vac.get_potential_energy() - e0 * (len(vac)) / len(perfect))


def hot_nvt(student, relaxed, temperature: float, ps: float = 20.0, reps: int = 2) -> dict:
    """``ps`` of Langevin NVT with the student; shortest pair distance seen every 10 fs."""
    from unihub.finetune.distillation.sampling import SAMPLING_MD
    from unihub.finetune.distillation.structures import min_distance
    from unihub.foundation.simulate import md

    atoms = relaxed * (reps, reps, reps)
    seen = [min_distance(atoms)]
    temps = []

    def watch(a, step):
        seen.append(min_distance(a))
        temps.append(a.get_temperature())
        return True

    t0 = time.perf_counter()
    steps = md(atoms, temperature, int(ps * 1000), "nvt", calculator=student.calculator(), loginterval=10,
               observe=watch, **SAMPLING_MD)["steps"]
    return {"steps": steps, "atoms": len(atoms), "min_pair_A": float(min(seen)),
            "mean_T": float(np.mean(temps[len(temps) // 5:])), "seconds": time.perf_counter() - t0}


def reps_for(cell, atoms: int = 64) -> int:
    """Repetitions of ``cell`` along each axis to about ``atoms`` atoms (at least 2)."""
    return max(2, round((atoms / len(cell)) ** (1 / 3)))


def physics(teacher, student, spec: dict, args) -> dict:
    """Student vs teacher on the system's main phase: lattice constant and bulk modulus, relaxed vacancy
    formation energy and Gamma frequencies in a ~64-atom cell, and the student's NVT at 1.2 Tm."""
    phys: dict = {}
    relaxed = {}
    for who, model in (("teacher", teacher), ("student", student)):
        calc = model.calculator(threads=args.threads) if who == "student" else model.calculator()
        r = eos(calc, spec["phase"])
        relaxed[who] = r["relaxed"]
        n = reps_for(r["relaxed"])
        phys[who] = {"a_A": r["a"], "B_GPa": r["B_GPa"], "vacancy_eV": vacancy_energy(calc, r["relaxed"], n),
                     "gamma_THz": gamma_vdos(model, r["relaxed"] * (n, n, n))}
    wt, ws = phys["teacher"].pop("gamma_THz"), phys["student"].pop("gamma_THz")
    phys["gamma_mode_mae_THz"] = float(np.mean(np.abs(wt[3:] - ws[3:])))
    phys["gamma_max_THz"] = {"teacher": float(wt.max()), "student": float(ws.max())}
    hist = [np.histogram(w[3:], bins=30, range=(0, max(wt.max(), ws.max()) * 1.05))[0] for w in (wt, ws)]
    phys["vdos_overlap"] = float(np.minimum(*hist).sum() / hist[0].sum())
    phys["nvt_1.2Tm"] = hot_nvt(student, relaxed["student"], 1.2 * spec["tm"], args.nvt_ps,
                                reps_for(relaxed["student"]))
    return phys


def speed(teacher, student, phase, threads: int) -> dict:
    """Seconds per MD-like step (energy, forces, stress after a small move; median) of each model on the
    same cells (~64 and ~512 atoms of ``phase``), same threads, same run."""
    import torch
    from lammps_speed import cell_of

    from unihub.foundation.timing import time_calculator

    torch.set_num_threads(threads)
    out = {}
    for target in (64, 512):
        atoms = cell_of(phase, target)
        row = {"teacher": time_calculator(teacher.calculator(), atoms, 20).median_s,
               "student": time_calculator(student.calculator(threads=threads), atoms, 100).median_s}
        row["ratio"] = row["teacher"] / row["student"]
        out[str(len(atoms))] = row
    return out


def lammps_student_cost(mtp_path: Path, phase: tuple, ranks: int = 1, steps: int = 100) -> dict:
    """The student where it runs in production: LAMMPS (pair_style unihub/mtp, ``ranks`` MPI ranks), NVE at
    300 K of ~4096 atoms of ``phase`` (``bench/lammps_speed.py``'s input): wall µs per atom-step, and per core."""
    import tempfile

    from lammps_speed import CUBIC_SITES, run_lammps

    sites = CUBIC_SITES[phase[1]]
    n_atoms = sites * round((4096 / sites) ** (1 / 3)) ** 3
    with tempfile.TemporaryDirectory(prefix="unihub-distill-lammps-") as d:
        r = run_lammps(Path(d), ranks, mtp_path.resolve(), n_atoms, steps, phase)
    return {"ranks": ranks, "atoms": r["atoms"], "steps": r["steps"],
            "us_per_atom_step": r["seconds"] / (r["atoms"] * r["steps"]) * 1e6,
            "us_per_atom_step_core": r["us_per_atom_step_core"]}


def timings(teacher, student, spec: dict, mtp_path: Path, args) -> dict:
    """Teacher and student side by side (Python calculators), and the student in LAMMPS against the
    teacher's cost per atom-step on the larger cell."""
    out = speed(teacher, student, spec["phase"], args.threads)
    big = max(out, key=int)
    teacher_us = out[big]["teacher"] / int(big) * 1e6
    # the teacher ran on --threads cores: the student gets as many MPI ranks (and 1, for the per-core cost)
    for ranks in sorted({1, args.threads}):
        lmp = lammps_student_cost(mtp_path, spec["phase"], ranks)
        key = "lammps_student" if ranks == 1 else f"lammps_student_{ranks}_ranks"
        out[key] = {**lmp, "teacher_atoms": int(big), "teacher_us_per_atom_step": teacher_us,
                    "ratio": teacher_us / lmp["us_per_atom_step"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("--teacher", default="universal-v1")
    ap.add_argument("--out", default=".cache/bench/distill")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=int, default=1500)
    ap.add_argument("--md-steps", type=int, default=400)
    ap.add_argument("--fit-iters", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--al-steps", type=int, default=1000)
    ap.add_argument("--refit-iters", type=int, default=150)
    ap.add_argument("--direct-iters", type=int, default=None, help="default: --fit-iters")
    ap.add_argument("--direct-frames", type=int, default=None,
                    help="fit the direct DFT MTP on a random subset of this many training frames (default: all)")
    ap.add_argument("--skip-distill", action="store_true", help="reuse OUT/<system>.mtp")
    ap.add_argument("--speed-only", action="store_true",
                    help="reuse OUT/<system>.mtp and only time teacher and student (OUT/<system>-speed.json)")
    ap.add_argument("--physics-only", action="store_true",
                    help="reuse OUT/<system>.mtp and only run the physical checks (OUT/<system>-physics.json)")
    ap.add_argument("--dft-structures", type=int, default=0,
                    help="start from this many random DFT training structures (positions only: the student "
                         "never sees their labels) instead of the generated prototypes")
    ap.add_argument("--nvt-ps", type=float, default=20.0)
    ap.add_argument("--finetune-epochs", type=int, default=0,
                    help="first fine-tune --teacher on the system's DFT training frames (unihub.finetune.finetune)")
    ap.add_argument("--finetune-steps", type=int, default=None)
    ap.add_argument("--relative-forces", type=float, default=None, metavar="F0",
                    help="eV/Å: unihub distill --relative-forces (relative force errors in the student's fit)")
    ap.add_argument("--force-weight", type=float, default=None,
                    help="unihub distill --force-weight (the fit's force term against energies)")
    ap.add_argument("--level", type=int, default=16, help="MTP level of the student (and of the direct DFT fit)")
    ap.add_argument("--student", type=Path, default=None,
                    help="with --speed-only or --physics-only: this .mtp (e.g. a bench/distill_refit.py fit) instead "
                         "of OUT/<system>.mtp; results go to OUT/<system>-<speed|physics>-<its name>.json")
    ap.add_argument("--resume", action="store_true",
                    help="unihub distill --resume: reuse the teacher labels in OUT/<system>/ (e.g. copied from "
                         "an earlier run) and refit with this run's fit settings")
    args = ap.parse_args()
    if args.student is not None and not (args.speed_only or args.physics_only):
        ap.error("--student goes with --speed-only or --physics-only")
    spec = SYSTEMS[args.system]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mtp_path = out / f"{args.system}.mtp"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    res: dict = {"system": args.system, "teacher": args.teacher, "threads": args.threads,
                 "uptime_before": os.getloadavg()}

    # 0. the teacher: optionally fine-tuned on the system's DFT training frames
    if args.finetune_epochs and not args.skip_distill:
        import torch

        from unihub.finetune import finetune
        from unihub.finetune.distillation.distill import load_reference

        torch.set_num_threads(args.threads)
        _, ft_train = load_reference(spec["train"], spec["elements"])
        _, ft_test = load_reference(spec["dft"], spec["elements"])
        t0 = time.perf_counter()
        tuned = finetune(args.teacher, ft_train, test=ft_test, epochs=args.finetune_epochs,
                         max_steps=args.finetune_steps, threads=args.threads, output=out / f"{args.system}-teacher",
                         progress=False)
        res["finetune"] = {"base": args.teacher, "seconds": time.perf_counter() - t0, "frames": len(ft_train),
                           "epochs": args.finetune_epochs, "card_body": tuned.card.get("body", "")}
        print(f"fine-tuned teacher in {res['finetune']['seconds']:.0f} s", flush=True)
    if args.finetune_epochs:
        args.teacher = str(out / f"{args.system}-teacher")
        res["teacher"] = args.teacher

    # 1. unihub distill, timed to the validated student
    cmd = [sys.executable, "-m", "unihub", "distill", args.teacher, "--elements", *spec["elements"],
           "--level", str(args.level), "--dft", spec["dft"], "--threads", str(args.threads),
           "--budget", str(args.budget), "--md-steps", str(args.md_steps), "--fit-iters", str(args.fit_iters),
           "--rounds", str(args.rounds),
           "--al-steps", str(args.al_steps), "--refit-iters", str(args.refit_iters), "--no-progress",
           "-o", str(mtp_path)]
    if args.relative_forces:
        cmd[-2:-2] = ["--relative-forces", str(args.relative_forces)]
    if args.force_weight is not None:
        cmd[-2:-2] = ["--force-weight", str(args.force_weight)]
    if args.resume:
        cmd[-2:-2] = ["--resume"]
    if args.dft_structures:
        from ase.io import write

        from unihub.finetune.distillation.distill import load_reference

        _, pool = load_reference(spec["train"], spec["elements"])
        pick = np.random.default_rng(1).choice(len(pool), min(args.dft_structures, len(pool)), replace=False)
        starts = out / f"{args.system}-starts.extxyz"
        bare = []
        for i in sorted(pick):  # positions, cell and species only: no DFT label reaches the file
            a = pool[i].to_atoms()
            bare.append(type(a)(a.numbers, a.positions, cell=a.cell, pbc=a.pbc))
        write(starts, bare)
        cmd[cmd.index("--level"):cmd.index("--level")] = ["--structures", str(starts)]
    res["command"] = " ".join(cmd)
    if args.speed_only or args.physics_only:
        args.skip_distill = True
    if not args.skip_distill:
        print("$", res["command"], flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        res["distill_wall_s"] = time.perf_counter() - t0
        print(f"distill wall time {res['distill_wall_s']:.0f} s", flush=True)

    import torch

    torch.set_num_threads(args.threads)
    from unihub.finetune.distillation import card_fields
    from unihub.finetune.distillation.distill import load_reference
    from unihub.zoo import load_model

    teacher = load_model(args.teacher)
    suffix = ""
    if args.student is not None:
        mtp_path, suffix = args.student, f"-{args.student.stem}"
        res["student"] = str(args.student)
        student = load_model(mtp_path)
    else:
        student = load_model(mtp_path.with_suffix(""))
    if args.physics_only:
        res["physics"] = physics(teacher, student, spec, args)
        (out / f"{args.system}-physics{suffix}.json").write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps(res["physics"], indent=1, default=float))
        return
    if args.speed_only:
        res["speed"] = timings(teacher, student, spec, mtp_path, args)
        res["uptime_after"] = os.getloadavg()
        (out / f"{args.system}-speed{suffix}.json").write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps(res["speed"], indent=1, default=float))
        return
    record = json.loads((mtp_path.with_suffix("") / "distillation.json").read_text())
    res["card"] = card_fields(student.card)
    res["record"] = {k: record[k] for k in ("counts", "train_size", "held_out", "errors", "seconds", "r_min")}
    res["active_rounds"] = record["active"]["rounds"]
    res["active_reason"] = record["active"]["reason"]

    # 2. errors against DFT: teacher, student, MTP fitted on DFT directly
    name, test = load_reference(spec["dft"], spec["elements"])
    _, train = load_reference(spec["train"], spec["elements"])
    if args.direct_frames and len(train) > args.direct_frames:
        pick = np.random.default_rng(0).choice(len(train), args.direct_frames, replace=False)
        train = [train[i] for i in sorted(pick)]
    res["dft_test"] = {"name": name, "frames": len(test)}
    res["errors_vs_dft"] = {"teacher": errors_of(teacher, test), "student": errors_of(student, test)}
    from unihub.finetune.distillation.distill import pick_r_min
    from unihub.finetune.mtp import FitConfig, MTPModel, fit

    # its own r_min: DFT frames reach closer than the student's data (Be-Be 0.99 Å in FitSNAP W-Be)
    direct_r_min = pick_r_min([f.to_atoms() for f in train])
    direct = MTPModel.from_level(args.level, spec["elements"], min_dist=direct_r_min, max_dist=5.0, seed=0)
    iters = args.direct_iters or args.fit_iters
    t0 = time.perf_counter()
    fr = fit(direct, train, test, FitConfig(max_iter=iters, threads=args.threads, progress=False))
    res["direct_dft_fit"] = {"train_frames": len(train), "iters": iters, "r_min": direct_r_min,
                             "seconds": time.perf_counter() - t0}
    res["errors_vs_dft"]["mtp_on_dft"] = {"energy_mae": fr.valid["energy_mae"], "force_mae": fr.valid["force_mae"]}
    e = res["errors_vs_dft"]
    res["student_over_teacher_force_mae"] = e["student"]["force_mae"] / e["teacher"]["force_mae"]
    by = {w: e[w].pop("force_mae_by_group") for w in ("teacher", "student")}
    res["force_mae_by_group"] = by
    print(json.dumps(res["errors_vs_dft"], indent=1), flush=True)
    print("force MAE by group (meV/Å): teacher / student")
    for g in by["teacher"]:
        print(f"  {g:32s} {by['teacher'][g]:8.1f} {by['student'][g]:8.1f}")

    # 3. physics, student vs teacher
    phys = physics(teacher, student, spec, args)
    res["physics"] = phys
    res["speed"] = timings(teacher, student, spec, mtp_path, args)
    res["uptime_after"] = os.getloadavg()
    (out / f"{args.system}.json").write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps({k: v for k, v in res.items() if k not in ("record", "active_rounds")}, indent=1, default=float))


if __name__ == "__main__":
    main()
