"""Cost: µs per atom-step (energy + forces + stress through the ASE calculator), all models in one run.

Every model is timed on the same rattled supercells in the same process, after one warm-up call, so the
ratios between models hold on this machine even where the absolute numbers do not. The accuracy-vs-cost
plot takes the held-out force MAE on PBE frames (the like-for-like accuracy) when that suite ran.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.build import bulk
from ase.data import covalent_radii

from unihub.eval import plots
from unihub.eval.metrics import spread
from unihub.eval.models import EvalModel, attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, footer
from unihub.foundation.timing import time_calculator

NAME = "cost"
TITLE = "Cost (µs per atom-step)"
DATASETS: tuple[str, ...] = ()  # built structures, no dataset
SIZES = {"quick": 2, "default": 5, "full": 20}  # timed calls per structure


def structures(model: EvalModel) -> list:
    """The timing cells: 64-atom diamond Si, 64-atom rock-salt MgO, 108-atom fcc Cu; for a student, an fcc
    cell of its own elements."""
    cells = [bulk("Si", "diamond", 5.43, cubic=True).repeat(2), bulk("MgO", "rocksalt", 4.21, cubic=True).repeat(2),
             bulk("Cu", "fcc", 3.61, cubic=True).repeat(3)]
    mine = [a for a in cells if model.covers(a.numbers)]
    if not mine and model.elements:
        zs = sorted(model.elements)
        a = bulk("Cu", "fcc", 2 * np.sqrt(2) * np.mean(covalent_radii[zs]), cubic=True).repeat(2) * (2, 1, 1)
        a.numbers = [zs[i % len(zs)] for i in range(len(a))]
        mine = [a]
    for i, a in enumerate(mine):
        a.rattle(0.03, seed=i)
    return mine


def time_model(model: EvalModel, atoms, calls: int) -> float:
    """Median seconds per energy+forces+stress call of a model's PBE calculator (after one warm-up call:
    graph caches, lazy imports, allocator)."""
    return time_calculator(model.calculator("pbe"), atoms, calls).median_s


def run(ctx: Context) -> SuiteResult:
    calls = ctx.n(SIZES)
    res = SuiteResult(NAME, TITLE, [], calls, [Headline("us_per_atom_step", "µs/atom-step")])

    res.notes.append(f"median of {calls} calls per structure after a warm-up; torch threads: {torch.get_num_threads()}")
    timer = Timer(res)
    for m in ctx.models:
        ctx.log(f"cost: {m.name}")
        per_atom = []
        with timer(m):
            for atoms in ctx.track(structures(m), f"cost {m.name}"):
                a = attempt(time_model, m, atoms, calls)
                us = 1e6 * a.value / len(atoms) if a.ok else np.nan
                res.record(m, atoms.get_chemical_formula(), a.error, natoms=len(atoms), us_per_atom_step=us)
                if a.ok:
                    per_atom.append(us)
        res.summary[m.name] = {"us_per_atom_step": float(np.mean(per_atom)) if per_atom else float("nan"),
                               "us_per_atom_step_spread": spread(per_atom), "n": len(per_atom)}
    held = ctx.cache.get("heldout_summary", {})
    points = {}
    for m in ctx.models:
        h = held.get(m.name, {})
        acc = h.get("force_mae_pbe_meV_A", h.get("force_mae_meV_A"))
        if acc is not None and m.name in res.summary:
            points[m.name] = (res.summary[m.name]["us_per_atom_step"], acc)
    if points:
        res.figures.append(("Accuracy vs cost", plots.pareto(
            points, "cost (µs per atom-step)", "held-out force MAE, PBE frames (meV/Å)",
            "Accuracy vs cost (Pareto front dashed)", footer([], ctx.models))))
        res.notes.append("Pareto front (cheapest first): " + ", ".join(plots.pareto_front(points)))
    return res
