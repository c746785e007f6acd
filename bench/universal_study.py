"""Universal models against their peers, side by side in one run: the OOD compound sets, WBM by each
model's protocol, the EOS suite and cost (the report's suites), and relaxed volumes of the demo's
crystals against SevenNet-0's. Writes the report and one JSON record under bench/results/.

    UNIHUB_DATA=../shared/data python bench/universal_study.py [--config bench/configs/universal_study.yaml] \
        [--threads 2] [-o DIR] [--card-figures FIGURES.json]

The models, size mode, suites and whether to relax the demo crystals are the config's
(``bench/configs/universal_study.yaml`` by default).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from record import load_config, write_record

SUITES = ["ood", "heldout", "wbm", "eos", "cost"]
# universal-v1's own test splits: a new model must not regress on them (same frames for every model)
REGRESSION_SETS = ["mlearn", "nbmotaw", "fitsnap_Fe", "fitsnap_WBe"]
REFERENCE = "sevennet-0"  # the demo volumes are compared with this PBE-trained peer's relaxed cells


def demo_volumes(models, threads: int) -> dict[str, dict[str, float]]:
    """Relaxed volume per atom (Å³) of each demo crystal, per model (the mptrj head where a model has one)."""
    from unihub.eval.models import resolve_models
    from unihub.foundation.graph import as_ase
    from unihub.foundation.simulate import relax
    from unihub.zoo.demo import demo_structures

    out: dict[str, dict[str, float]] = {}
    for m in resolve_models(models)[0]:
        head = "mptrj" if "mptrj" in m.heads else "pbe"
        out[m.name] = {}
        for label, s in demo_structures().items():
            atoms = as_ase(s).copy()
            if not atoms.pbc.all():
                continue
            r = relax(atoms, fmax=0.01, steps=500, calculator=m.calculator(head), progress=False)
            out[m.name][label] = r["atoms"].get_volume() / len(atoms)
    return out


def card_figures(figures: dict, command: str) -> list[dict]:
    """The study's figures as the measured tables of a model card (``zoo/models/NAME/figures.json``)."""
    ood = figures.get("ood", {})
    files = (("mptrj", "MPtrj"), ("alexandria", "Alexandria"), ("mpf_alkali_tp", "MPF-alkali-TP"))
    tables = [{
        "title": "Out-of-distribution compounds (bench/mattersim_ood): force MAE (meV/Å), energy MAE after a "
                 "per-model offset (meV/atom), stress MAE (GPa); CHGNet and SevenNet-0 trained on MPtrj",
        "command": command, "columns": ["model", *(f"{lab} {q}" for _, lab in files for q in ("F", "E", "S"))],
        "rows": [{"model": m, **{f"{lab} {q}": row.get(f"{key}_{metric}") for key, lab in files
                                 for q, metric in (("F", "force_mae_meV_A"), ("E", "energy_mae_meV_atom"),
                                                   ("S", "stress_mae_GPa"))}} for m, row in ood.items()],
        "headline": {"dataset_name": "mattersim_ood/mptrj-random-1k", "metric": "force_mae_meV_per_A",
                     "column": "MPtrj F"}}]
    held = figures.get("heldout", {})
    if held:
        tables.append({"title": "Force MAE (meV/Å) on universal-v1's own test splits (in-distribution for the hub "
                                "models, not for the peers, which see only the PBE frames)", "command": command,
                       "columns": ["model", *REGRESSION_SETS],
                       "rows": [{"model": m, **{d: r.get("per_dataset", {}).get(d, {}).get("force_mae_meV_A")
                                                for d in REGRESSION_SETS}} for m, r in held.items()]})
    if "wbm" in figures:
        tables.append({"title": "WBM formation energies, each model by its own energy target", "command": command,
                       "columns": ["model", "protocol", "n", "MAE meV/atom", "R²"],
                       "rows": [{"model": m, "protocol": r["protocol"], "n": r["n"], "MAE meV/atom": r["mae_meV_atom"],
                                 "R²": r["r2"]} for m, r in figures["wbm"].items()]})
    if "eos" in figures:
        tables.append({"title": "Equations of state (ACWF crystals)", "command": command,
                       "columns": ["model", "n", "V0 MAE %", "B0 MAE GPa"],
                       "rows": [{"model": m, "n": r.get("n"), "V0 MAE %": r.get("v0_mae_percent"),
                                 "B0 MAE GPa": r.get("b0_mae_GPa")} for m, r in figures["eos"].items()]})
    if "cost" in figures:
        tables.append({"title": "Cost, energy + forces + stress", "command": command,
                       "columns": ["model", "µs/atom-step"],
                       "rows": [{"model": m, "µs/atom-step": r.get("us_per_atom_step")}
                                for m, r in figures["cost"].items()]})
    vols = figures.get("demo_volume_vs_sevennet0_percent", {})
    if vols:
        crystals = sorted({c for per in vols.values() for c in per})
        tables.append({"title": f"Relaxed volume of the demo crystals against {REFERENCE}'s (%)", "command": command,
                       "columns": ["model", *crystals],
                       "rows": [{"model": m, **per} for m, per in vols.items()]})
    return tables


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML settings (default: bench/configs/universal_study.yaml)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-o", "--out", default=".cache/bench/universal-study")
    p.add_argument("--card-figures", help="also write the figures as a model card's figures.json here")
    args = p.parse_args()
    cfg = load_config(args.config, "universal_study")
    unknown = sorted(set(cfg["suites"]) - set(SUITES))
    if unknown:
        p.error(f"{args.config}: suites {unknown} are not among {SUITES}")
    from unihub import ood_report

    t0 = time.perf_counter()
    ood_report(cfg["models"], suites=cfg["suites"], out=args.out, size=cfg["size"], threads=args.threads,
               options={"heldout": {"datasets": REGRESSION_SETS}})
    report = json.loads((Path(args.out) / "report.json").read_text())
    suites = report["suites"]
    figures = {name: suites[name]["summary"] for name in SUITES if name in suites}
    # which weights were measured: a name in the zoo can be re-pointed
    figures["revisions"] = {m["name"]: m["revision"] for m in report["models"]}
    vols = demo_volumes(cfg["models"], args.threads) if cfg["volumes"] else {}
    ref = vols.get(REFERENCE, {})
    figures["demo_volume_vs_sevennet0_percent"] = {
        m: {c: round(100 * (v / ref[c] - 1), 2) for c, v in per.items() if c in ref} for m, per in vols.items()}
    for m, per in figures["demo_volume_vs_sevennet0_percent"].items():
        worst = max(per.items(), key=lambda kv: abs(kv[1])) if per else ("-", float("nan"))
        print(f"{m:<16} demo volumes vs {REFERENCE}: worst {worst[0]} {worst[1]:+.1f} %")
    rec = write_record("universal_study", figures, args.threads, time.perf_counter() - t0)
    print(rec)
    if args.card_figures:
        command = json.loads(rec.read_text())["command"]
        Path(args.card_figures).write_text(json.dumps(card_figures(figures, command), indent=1) + "\n")


if __name__ == "__main__":
    main()
