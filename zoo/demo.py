"""``unihub demo``: load universal-v2, relax structures across the periodic table, run a short MD, report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from ase.build import bulk, molecule

from unihub.foundation.files import check_output_dir
from unihub.foundation.graph import as_ase
from unihub.foundation.simulate import md, relax
from unihub.zoo import load_model


def demo_structures() -> dict:
    """A few crystals and a molecule across the periodic table, built locally (no downloads)."""
    # pymatgen (about a second to import) for this one structure only
    from pymatgen.core import Lattice, Structure

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return {
        "Si (diamond)": bulk("Si", "diamond", 5.43),
        "Cu (fcc)": bulk("Cu", "fcc", 3.61),
        "Fe (bcc)": bulk("Fe", "bcc", 2.87),
        "W (bcc)": bulk("W", "bcc", 3.17),
        "NaCl (rock salt, pymatgen)": rocksalt,
        "MgO (rock salt)": bulk("MgO", "rocksalt", 4.21),
        "GaAs (zinc blende)": bulk("GaAs", "zincblende", 5.65),
        "InP (zinc blende)": bulk("InP", "zincblende", 5.87),
        "H2O (molecule)": molecule("H2O"),
    }


def run_demo(model_name: str = "universal-v2", out: str | Path = "demo_out", md_steps: int = 200,
             progress: bool = True) -> dict:
    """Relax the demo structures and run NVT MD on 64-atom Si; writes ``report.md``, ``results.json``, a plot."""
    out = check_output_dir(out)
    t0 = time.perf_counter()
    model = load_model(model_name)  # before anything is created: a bad name leaves no empty folder behind
    t_load = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    print(f"loaded {model_name}: {model.num_parameters():,} parameters, heads {model.config.fidelities} "
          f"(default {model.config.default_fidelity}) in {t_load:.1f} s")
    rows = []
    for name, s in demo_structures().items():
        atoms = as_ase(s).copy()
        atoms.calc = model.calculator()
        e0 = atoms.get_potential_energy() / len(atoms)
        f0 = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        v0 = atoms.get_volume() if atoms.pbc.all() else float("nan")
        t = time.perf_counter()
        res = relax(atoms, fmax=0.02, cell=atoms.pbc.all(), steps=300, progress=progress)
        dt = time.perf_counter() - t
        v1 = atoms.get_volume() if atoms.pbc.all() else float("nan")
        row = {"structure": name, "atoms": len(atoms), "energy_per_atom_initial": e0,
               "energy_per_atom_relaxed": res["energy"] / len(atoms), "max_force_initial": f0,
               "max_force_relaxed": res["fmax"], "volume_change_pct": 100 * (v1 / v0 - 1),
               "steps": res["steps"], "converged": res["converged"], "seconds": dt}
        rows.append(row)
        print(f"  {name:<28} E {row['energy_per_atom_relaxed']:9.4f} eV/atom  |F|max {f0:6.3f} → "
              f"{res['fmax']:.3f} eV/Å  ΔV {row['volume_change_pct']:+6.2f} %  {res['steps']:3d} steps  {dt:5.1f} s")

    si = bulk("Si", "diamond", 5.43, cubic=True).repeat(2)
    t = time.perf_counter()
    trace = md(si, 300.0, md_steps, ensemble="nvt", calculator=model.calculator(), loginterval=5,
               progress=progress)
    dt = time.perf_counter() - t
    us = 1e6 * dt / (md_steps * len(si))
    tmean = float(np.mean(trace["temperature"][len(trace["temperature"]) // 2:]))
    print(f"  MD Si{len(si)} NVT 300 K, {md_steps} steps of 1 fs: {dt:.1f} s ({us:.0f} µs/atom-step), "
          f"<T> second half {tmean:.0f} K")
    result = {"model": model_name, "load_seconds": t_load, "relaxations": rows,
              "md": {"atoms": len(si), "steps": md_steps, "seconds": dt, "us_per_atom_step": us,
                     "mean_temperature_second_half": tmean}}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    _plot(trace, out / "md_si.png", model_name)
    _report(result, out / "report.md")
    print(f"wrote {out / 'report.md'}, {out / 'results.json'}, {out / 'md_si.png'}")
    return result


def _plot(trace: dict, path: Path, model_name: str) -> None:
    # pyplot after choosing the Agg backend, and only here: a module-level choice would set the importer's backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].plot(trace["step"], trace["temperature"])
    ax[0].set(xlabel="step (1 fs)", ylabel="T (K)", title="Si64 NVT 300 K")
    ax[1].plot(trace["step"], trace["energy"])
    ax[1].set(xlabel="step (1 fs)", ylabel="total energy (eV)", title=model_name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _report(result: dict, path: Path) -> None:
    lines = [f"# unihub demo: {result['model']}", "",
             "| structure | atoms | E relaxed (eV/atom) | max force before → after (eV/Å) | ΔV (%) | steps | s |",
             "|---|---|---|---|---|---|---|"]
    for r in result["relaxations"]:
        lines.append(f"| {r['structure']} | {r['atoms']} | {r['energy_per_atom_relaxed']:.4f} | "
                     f"{r['max_force_initial']:.3f} → {r['max_force_relaxed']:.3f} | {r['volume_change_pct']:+.2f} | "
                     f"{r['steps']} | {r['seconds']:.1f} |")
    m = result["md"]
    lines += ["", f"MD: Si{m['atoms']} NVT 300 K, {m['steps']} steps, {m['seconds']:.1f} s "
              f"({m['us_per_atom_step']:.0f} µs/atom-step), "
              f"mean T (second half) {m['mean_temperature_second_half']:.0f} K",
              "", "![MD trace](md_si.png)", ""]
    path.write_text("\n".join(lines))
