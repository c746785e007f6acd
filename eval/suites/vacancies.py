"""Vacancy formation energies (JARVIS, OptB88vdW) from single points on the stored bulk and defective cells.

E_vac = E_defective − E_bulk + μ, with μ the model's own lowest energy per atom over MP elemental
polymorphs of the removed element (as in the WBM suite), so each model is judged on its own elemental
reference. No relaxation: the stored cells are JARVIS's; this measures energies at DFT geometries.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers

from unihub.eval import plots
from unihub.eval.metrics import mae_entry, rmse
from unihub.eval.models import attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, dataset_info, footer, pick
from unihub.eval.suites.wbm import model_mu, mp_polymorphs
from unihub.foundation.data import load_dataset

NAME = "vacancies"
TITLE = "Vacancy formation energies (JARVIS-DFT)"
DATASETS = ("jarvis_vacancy", "matpes_element_refs")
SIZES = {"quick": 2, "default": 20, "full": None}  # vacancies
POLYMORPHS_PER_ELEMENT = 3


def vacancy_pairs() -> list[tuple]:
    """(bulk, defective) frame pairs of the consistent entries, in file order."""
    bulk, out = {}, []
    for f in load_dataset("jarvis_vacancy"):
        if f.info["role"] == "bulk":
            bulk[f.group] = f
        else:
            out.append((bulk[f.group], f))
    return out


def run(ctx: Context) -> SuiteResult:
    pairs = pick(vacancy_pairs(), ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(pairs), [
        # the elemental references only set chemical potentials: a model that trained on them has not seen a vacancy
        Headline("evac_mae_eV", "E_vac MAE eV", datasets=(DATASETS[0],))])
    res.notes.append(f"{len(pairs)} vacancies; single points at the JARVIS geometries; μ from each model's "
                     f"lowest energy over ≤ {POLYMORPHS_PER_ELEMENT} MP polymorphs.")
    polymorphs = mp_polymorphs({atomic_numbers[d.info["symbol"]] for _, d in pairs}, POLYMORPHS_PER_ELEMENT)
    lacking = sorted({d.info["symbol"] for _, d in pairs} - set(polymorphs))
    if lacking:  # no μ for these: a gap in the data, not a model failure
        pairs = [(b, d) for b, d in pairs if d.info["symbol"] not in lacking]
        res.notes.append(f"Dropped vacancies of {', '.join(lacking)}: no MP elemental polymorph.")
        res.size = len(pairs)
    timer, parity = Timer(res), {}
    for m in ctx.models:
        ctx.log(f"vacancies: {m.name}")
        mine = [(b, d) for b, d in pairs if m.covers(b.numbers)]
        if not mine:
            res.skipped[m.name] = "no vacancy within the model's elements"
            continue

        def energy(f, m=m):
            return m.single_point(f.to_atoms(), "pbe", forces=False, stress=False)["energy"]

        rows = []
        with timer(m):
            mu = model_mu(energy, {s: fs for s, fs in polymorphs.items() if m.covers([atomic_numbers[s]])})
            for b, d in ctx.track(mine, f"vacancies {m.name}"):
                eb, ed = attempt(energy, b), attempt(energy, d)
                err = eb.error or ed.error
                sym = d.info["symbol"]
                ev = ed.value - eb.value + mu.get(sym, np.nan) if err is None else np.nan
                if err is None and not np.isfinite(ev):
                    err = f"the model failed on every MP polymorph of {sym}"
                rows.append(res.record(m, d.group, err, symbol=sym, formula=d.info.get("bulk_formula"),
                                       evac_ref_eV=d.info["E_vac"], evac_eV=ev, natoms_bulk=len(b)))
        ok = [r for r in rows if r["error"] is None]
        ref, pred = np.array([r["evac_ref_eV"] for r in ok]), np.array([r["evac_eV"] for r in ok])
        res.summary[m.name] = {"n": len(ok), **mae_entry("evac_mae_eV", pred, ref), "evac_rmse_eV": rmse(pred, ref)}
        parity[m.name] = (ref, pred)
    if parity:
        res.figures.append(("Vacancy formation energy parity", plots.parity(
            parity, "DFT E_vac (eV)", "model E_vac (eV)", "Vacancy formation energies", footer(datasets, ctx.models))))
    return res
