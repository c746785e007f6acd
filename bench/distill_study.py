"""Distillation study: a teacher -> level-16 MTP student with no DFT labels seen by the student.

    python bench/distill_study.py si  [--teacher universal-v1] [--threads 2] [--out .cache/bench/distill]
    python bench/distill_study.py --config my-wbe.yaml [--only speed|physics|evaluate] [--student X.mtp]

``si`` and ``wbe`` name ``bench/configs/distill_<system>.yaml``, which holds every setting of the study
(elements, DFT sets, phase, teacher, level, the distillation's budget and iterations); a ``--config`` file
overrides any of them (its ``system`` picks the file it overrides).

``si``: the student is made by ``unihub distill`` (run as ``python -m unihub distill`` in a
subprocess, timed from start to the validated student: its card carries its mlearn Si DFT test
errors). Then, in this one run: teacher and student errors on the mlearn Si test frames next to an
MTP fitted directly on the mlearn Si DFT training frames (same level, cutoff, iterations);
physical checks of student vs teacher (the report's EOS suite on the ACWF crystals of the system's
elements, lattice constant of the relaxed phase, Gamma-point vibrational DOS of a 64-atom cell by finite
differences, relaxed vacancy formation energy, 20 ps NVT at 1.2x melting with the student: shortest pair
distance); speed of student vs
teacher on the same cells and threads. ``wbe``: the same distillation for W-Be, errors against
the FitSNAP W-Be DFT test frames, and the same physical checks on bcc W (54-atom cells, NVT at 1.2x
the melting point of W).

The student is also timed in LAMMPS (~4096 atoms of the system's phase, 1 rank and ``--threads`` ranks), its
production engine.

Results go to ``OUT/<system>.json`` (every detail) and to one record under bench/results/ (the figures).
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
from record import CONFIGS, cell_of, frame_errors_by_group, lammps_student_cost, load_config, write_record

SYSTEMS = sorted(p.stem.removeprefix("distill_") for p in CONFIGS.glob("distill_*.yaml"))

def relaxed_phase(calc, phase) -> tuple:
    """The conventional cubic cell of ``phase`` (element, lattice, a) relaxed with ``calc``, and its a (Å)."""
    from unihub.foundation.simulate import relax

    el, kind, a0 = phase
    atoms = bulk(el, kind, a=a0, cubic=True)
    relax(atoms, fmax=1e-3, cell=True, steps=300, calculator=calc, progress=False)
    return atoms, float(np.cbrt(atoms.get_volume()))


def eos_suite(teacher, student) -> dict:
    """The report's EOS suite (``unihub.eval.suites.eos``) on every ACWF crystal of the system's elements,
    teacher and student against the same all-electron fits: the summary and each crystal's V0 and B0."""
    from dataclasses import replace

    from unihub.eval.models import resolve_models
    from unihub.eval.suites import Context
    from unihub.eval.suites.eos import run

    t, s = resolve_models([teacher, student])[0]
    # the teacher judged on the student's crystals only: size full holds every crystal, of which a student
    # covers its elements' few (unaries, and oxides where it knows O)
    models = [replace(t, elements=s.elements), s]
    res = run(Context(models, size="full"))
    out = {}
    for who, m in zip(("teacher", "student"), models):
        rows = [r for r in res.records if r["model"] == m.name]
        out[who] = {**res.summary.get(m.name, {}), "crystals": {
            r["id"]: {k: r.get(k) for k in ("v0_err_percent", "b0_GPa", "b0_ref_GPa", "error")} for r in rows}}
    return out


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


def physics(teacher, student, cfg: dict, threads: int) -> dict:
    """Student vs teacher: the EOS suite on the ACWF crystals of the system's elements (V0, B0 against the
    all-electron fits); on the system's main phase the relaxed lattice constant, the relaxed vacancy formation
    energy and Gamma frequencies in a ~64-atom cell, and the student's NVT at 1.2 Tm. The vacancy, Gamma and NVT
    checks stay here: the report's vacancy, phonon and MD suites draw compounds a one- or two-element student
    does not cover."""
    from unihub.foundation.phonons import gamma_frequencies

    phys: dict = {"eos_suite": eos_suite(teacher, student)}
    relaxed = {}
    for who, model in (("teacher", teacher), ("student", student)):
        calc = model.calculator(threads=threads) if who == "student" else model.calculator()
        relaxed[who], a = relaxed_phase(calc, cfg["phase"])
        n = reps_for(relaxed[who])
        phys[who] = {"a_A": a, "vacancy_eV": vacancy_energy(calc, relaxed[who], n),
                     "gamma_THz": gamma_frequencies(model, relaxed[who] * (n, n, n))}
    wt, ws = phys["teacher"].pop("gamma_THz"), phys["student"].pop("gamma_THz")
    phys["gamma_mode_mae_THz"] = float(np.mean(np.abs(wt[3:] - ws[3:])))
    phys["gamma_max_THz"] = {"teacher": float(wt.max()), "student": float(ws.max())}
    hist = [np.histogram(w[3:], bins=30, range=(0, max(wt.max(), ws.max()) * 1.05))[0] for w in (wt, ws)]
    phys["vdos_overlap"] = float(np.minimum(*hist).sum() / hist[0].sum())
    phys["nvt_1.2Tm"] = hot_nvt(student, relaxed["student"], 1.2 * cfg["melting_K"], cfg["nvt_ps"],
                                reps_for(relaxed["student"]))
    return phys


def speed(teacher, student, phase, threads: int) -> dict:
    """Seconds per MD-like step (energy, forces, stress after a small move; median) of each model on the
    same cells (~64 and ~512 atoms of ``phase``), same threads, same run."""
    import torch

    from unihub.foundation.timing import time_calculator

    torch.set_num_threads(threads)
    out = {}
    for target in (64, 512):
        atoms = cell_of(phase, target)
        row = {"atoms": len(atoms), "teacher_s_per_step": time_calculator(teacher.calculator(), atoms, 20).median_s,
               "student_s_per_step": time_calculator(student.calculator(threads=threads), atoms, 100).median_s}
        row["teacher_over_student"] = row["teacher_s_per_step"] / row["student_s_per_step"]
        out[f"{len(atoms)}_atoms"] = row
    return out


def timings(teacher, student, phase: tuple, mtp_path: Path, threads: int) -> dict:
    """Teacher and student side by side (Python calculators), and the student in LAMMPS against the
    teacher's cost per atom-step on the larger cell."""
    out = speed(teacher, student, phase, threads)
    big = max(out.values(), key=lambda row: row["atoms"])
    teacher_us = big["teacher_s_per_step"] / big["atoms"] * 1e6
    # the teacher ran on --threads cores: the student gets as many MPI ranks (and 1, for the per-core cost)
    for ranks in sorted({1, threads}):
        lmp = lammps_student_cost(mtp_path, phase, ranks)
        key = "lammps_student" if ranks == 1 else f"lammps_student_{ranks}_ranks"
        out[key] = {**lmp, "teacher_atoms": big["atoms"], "teacher_us_per_atom_step": teacher_us,
                    "teacher_over_student": teacher_us / lmp["us_per_atom_step"]}
    return out


def settings(args) -> dict:
    """The study's settings: ``bench/configs/distill_<system>.yaml`` overlaid with ``--config``, then ``--teacher``."""
    import yaml

    system = args.system
    if args.config:
        system = (yaml.safe_load(Path(args.config).read_text()) or {}).get("system", system)
    if system not in SYSTEMS:
        raise SystemExit(f"name a system ({', '.join(SYSTEMS)}) or a --config whose 'system' is one")
    cfg = load_config(args.config, f"distill_{system}")
    if args.teacher:
        cfg["teacher"] = args.teacher
    cfg["phase"] = tuple(cfg["phase"])
    return cfg


def finetune_teacher(cfg: dict, out: Path, threads: int) -> dict:
    """Fine-tune the teacher on the system's DFT training frames (saved as ``OUT/<system>-teacher``)."""
    import torch

    from unihub.finetune import finetune
    from unihub.finetune.distillation.distill import load_reference

    torch.set_num_threads(threads)
    _, ft_train = load_reference(cfg["train"], cfg["elements"])
    _, ft_test = load_reference(cfg["dft"], cfg["elements"])
    t0 = time.perf_counter()
    tuned = finetune(cfg["teacher"], ft_train, test=ft_test, epochs=cfg["finetune_epochs"],
                     max_steps=cfg["finetune_steps"], threads=threads, output=out / f"{cfg['system']}-teacher",
                     progress=False)
    res = {"base": cfg["teacher"], "seconds": time.perf_counter() - t0, "frames": len(ft_train),
           "epochs": cfg["finetune_epochs"], "card_body": tuned.card.get("body", "")}
    print(f"fine-tuned teacher in {res['seconds']:.0f} s", flush=True)
    return res


def distill_command(cfg: dict, out: Path, mtp_path: Path, threads: int, resume: bool) -> list[str]:
    """``unihub distill`` with the study's settings (writing the starting structures file if it has one)."""
    cmd = [sys.executable, "-m", "unihub", "distill", cfg["teacher"], "--elements", *cfg["elements"],
           "--level", str(cfg["level"]), "--dft", cfg["dft"], "--threads", str(threads),
           "--budget", str(cfg["budget"]), "--md-steps", str(cfg["md_steps"]), "--fit-iters", str(cfg["fit_iters"]),
           "--rounds", str(cfg["rounds"]), "--al-steps", str(cfg["al_steps"]), "--refit-iters",
           str(cfg["refit_iters"]), "--no-progress", "-o", str(mtp_path)]
    if cfg["relative_forces"]:
        cmd[-2:-2] = ["--relative-forces", str(cfg["relative_forces"])]
    if cfg["force_weight"] is not None:
        cmd[-2:-2] = ["--force-weight", str(cfg["force_weight"])]
    if resume:
        cmd[-2:-2] = ["--resume"]
    if cfg["dft_structures"]:
        from ase.io import write

        from unihub.finetune.distillation.distill import load_reference

        _, pool = load_reference(cfg["train"], cfg["elements"])
        pick = np.random.default_rng(1).choice(len(pool), min(cfg["dft_structures"], len(pool)), replace=False)
        starts = out / f"{cfg['system']}-starts.extxyz"
        bare = []
        for i in sorted(pick):  # positions, cell and species only: no DFT label reaches the file
            a = pool[i].to_atoms()
            bare.append(type(a)(a.numbers, a.positions, cell=a.cell, pbc=a.pbc))
        write(starts, bare)
        cmd[cmd.index("--level"):cmd.index("--level")] = ["--structures", str(starts)]
    return cmd


def dft_errors(teacher, student, cfg: dict, threads: int) -> dict:
    """Teacher, student and an MTP fitted directly on the DFT training frames, against the DFT test frames."""
    from unihub.finetune.distillation.distill import load_reference, pick_r_min
    from unihub.finetune.mtp import FitConfig, MTPModel, fit

    name, test = load_reference(cfg["dft"], cfg["elements"])
    _, train = load_reference(cfg["train"], cfg["elements"])
    if cfg["direct_frames"] and len(train) > cfg["direct_frames"]:
        pick = np.random.default_rng(0).choice(len(train), cfg["direct_frames"], replace=False)
        train = [train[i] for i in sorted(pick)]
    res: dict = {"dft_test": {"name": name, "frames": len(test)}}
    e = {"teacher": frame_errors_by_group(teacher, test), "student": frame_errors_by_group(student, test)}
    # its own r_min: DFT frames reach closer than the student's data (Be-Be 0.99 Å in FitSNAP W-Be)
    direct_r_min = pick_r_min([f.to_atoms() for f in train])
    direct = MTPModel.from_level(cfg["level"], cfg["elements"], min_dist=direct_r_min, max_dist=5.0, seed=0)
    iters = cfg["direct_iters"] or cfg["fit_iters"]
    t0 = time.perf_counter()
    fr = fit(direct, train, test, FitConfig(max_iter=iters, threads=threads, progress=False))
    res["direct_dft_fit"] = {"train_frames": len(train), "iters": iters, "r_min": direct_r_min,
                             "seconds": time.perf_counter() - t0}
    e["mtp_on_dft"] = fr.valid
    res["student_over_teacher_force_mae"] = e["student"]["force_mae_meV_A"] / e["teacher"]["force_mae_meV_A"]
    by = {w: e[w].pop("force_mae_meV_A_by_group") for w in ("teacher", "student")}
    res["errors_vs_dft"], res["force_mae_meV_A_by_group"] = e, by
    print(json.dumps(e, indent=1), flush=True)
    print("force MAE by group (meV/Å): teacher / student")
    for g in by["teacher"]:
        print(f"  {g:32s} {by['teacher'][g]:8.1f} {by['student'][g]:8.1f}")
    return res


def record_figures(res: dict) -> dict:
    """The figures of ``res`` the record keeps (the card text, the distillation's log and loads stay in OUT)."""
    keep = ("system", "teacher", "student", "distill_wall_s", "errors_vs_dft", "student_over_teacher_force_mae",
            "force_mae_meV_A_by_group", "direct_dft_fit", "physics", "speed", "active_rounds")
    figures = {k: res[k] for k in keep if k in res}
    if "record" in res:
        figures["distillation"] = {k: res["record"][k] for k in ("counts", "train_size", "seconds")
                                   if k in res["record"]}
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("system", nargs="?", choices=SYSTEMS, help="bench/configs/distill_<system>.yaml")
    ap.add_argument("--config", help="YAML settings overriding the system's (its 'system' picks the system)")
    ap.add_argument("--teacher", help="overrides the config's teacher")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=".cache/bench/distill")
    ap.add_argument("--only", choices=("evaluate", "speed", "physics"),
                    help="reuse OUT/<system>.mtp: evaluate it (no distillation), or only time it or check its physics")
    ap.add_argument("--student", type=Path, default=None,
                    help="with --only speed|physics: this .mtp (e.g. a bench/distill_refit.py fit) instead of "
                         "OUT/<system>.mtp; results go to OUT/<system>-<speed|physics>-<its name>.json")
    ap.add_argument("--resume", action="store_true",
                    help="unihub distill --resume: reuse the teacher labels in OUT/<system>/ (e.g. copied from "
                         "an earlier run) and refit with this run's fit settings")
    args = ap.parse_args()
    if args.student is not None and args.only not in ("speed", "physics"):
        ap.error("--student goes with --only speed or --only physics")
    cfg = settings(args)
    t_start = time.perf_counter()
    out, system, threads = Path(args.out), cfg["system"], args.threads
    out.mkdir(parents=True, exist_ok=True)
    mtp_path = out / f"{system}.mtp"
    res: dict = {"system": system, "teacher": cfg["teacher"], "threads": threads, "uptime_before": os.getloadavg()}
    if cfg["finetune_epochs"] and args.only is None:  # 0. the teacher, optionally fine-tuned first
        res["finetune"] = finetune_teacher(cfg, out, threads)
    if cfg["finetune_epochs"]:
        cfg["teacher"] = res["teacher"] = str(out / f"{system}-teacher")
    cmd = distill_command(cfg, out, mtp_path, threads, args.resume)  # 1. unihub distill, timed
    res["command"] = " ".join(cmd)
    if args.only is None:
        print("$", res["command"], flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        res["distill_wall_s"] = time.perf_counter() - t0
        print(f"distill wall time {res['distill_wall_s']:.0f} s", flush=True)

    import torch

    torch.set_num_threads(threads)
    from unihub.finetune.distillation import card_fields
    from unihub.zoo import load_model

    teacher = load_model(cfg["teacher"])
    name = f"{system}"
    if args.student is not None:
        mtp_path, name = args.student, f"{system}-{args.only}-{args.student.stem}"
        res["student"] = str(args.student)
        student = load_model(mtp_path)
    else:
        student = load_model(mtp_path.with_suffix(""))
    if args.only in ("speed", "physics"):
        name = name if args.student is not None else f"{system}-{args.only}"
        res[args.only] = (physics(teacher, student, cfg, threads) if args.only == "physics"
                          else timings(teacher, student, cfg["phase"], mtp_path, threads))
    else:
        record = json.loads((mtp_path.with_suffix("") / "distillation.json").read_text())
        res["card"] = card_fields(student.card)
        res["record"] = {k: record[k] for k in ("counts", "train_size", "held_out", "errors", "seconds", "r_min")}
        res["active_rounds"] = record["active"]["rounds"]
        res["active_reason"] = record["active"]["reason"]
        res.update(dft_errors(teacher, student, cfg, threads))  # 2. errors against DFT
        res["physics"] = physics(teacher, student, cfg, threads)  # 3. physics and cost, student vs teacher
        res["speed"] = timings(teacher, student, cfg["phase"], mtp_path, threads)
    res["uptime_after"] = os.getloadavg()
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps({k: v for k, v in res.items() if k not in ("record", "active_rounds", "card")}, indent=1,
                     default=float))
    print(write_record(f"distill_study-{system}", record_figures(res), threads, time.perf_counter() - t_start))


if __name__ == "__main__":
    main()
