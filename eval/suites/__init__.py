"""OOD suites: one module per benchmark, each driven by a dataset with a card.

Every suite module defines ``NAME``, ``TITLE``, ``DATASETS`` (card names), ``SIZES`` (items per size:
``quick``, ``default``, ``full`` = None for all) and ``run(ctx) -> SuiteResult``. Subsets are fixed:
the same seed picks the same structures on every machine, so reports compare across runs.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI reads ORDER at parser build time: keep this module free of numpy/torch
    from unihub.eval.models import EvalModel

ORDER = ("ood", "heldout", "wbm", "eos", "elasticity", "phonons", "vacancies", "diatomics", "md_stability", "cost")
SIZE_MODES = ("quick", "default", "full")


def suite_module(name: str):
    """The module of one suite (imported on demand: phonopy and friends load only when asked for)."""
    if name not in ORDER:
        raise ValueError(f"unknown suite {name!r}; suites: {', '.join(ORDER)}")
    return importlib.import_module(f"unihub.eval.suites.{name}")


@dataclass
class Context:
    """What a suite needs to run: the models, the size mode, where to write, and a shared cache."""

    models: list[EvalModel]
    size: str = "default"
    out: Path = Path("report")
    seed: int = 0
    progress: bool = False
    cache: dict = field(default_factory=dict)  # results one suite leaves for another (cost reads heldout)

    def n(self, sizes: dict[str, int | None]) -> int | None:
        return sizes[self.size]

    def track(self, items: Sequence, desc: str):
        """``items`` with a progress bar when ``progress`` is on."""
        # not at import: the CLI parser imports this module for ORDER
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, disable=not self.progress, leave=False)

    def covered(self, model, frames: Sequence, desc: str):
        """The frames whose elements ``model`` covers, with a progress bar when ``progress`` is on."""
        return self.track([f for f in frames if model.covers(f.numbers)], desc)

    def log(self, msg: str) -> None:
        if self.progress:
            print(f"[eval] {msg}", flush=True)


@dataclass
class Headline:
    """A metric shown in the report's summary table."""

    key: str
    label: str
    lower_is_better: bool = True
    # what the row measures: card names, or "card/file stem" (empty: the suite's datasets); the report
    # marks models that trained on it as in-distribution and bolds the best only among the others
    datasets: tuple[str, ...] = ()
    # the summary key holding how many items the value comes from; ``<key>_n`` wins where a suite sets it
    n_key: str = "n"


@dataclass
class SuiteResult:
    """What a suite hands the report: per-model summaries, raw records, figures and timings."""

    name: str
    title: str
    datasets: list[dict]
    size: int | None
    headlines: list[Headline]
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def record(self, model: EvalModel, item: str, error: str | None = None, **values) -> dict:
        row = {"model": model.name, "id": item, **values, "error": error}
        self.records.append(row)
        if error is not None:
            self.failures[model.name] = self.failures.get(model.name, 0) + 1
        return row


def dataset_info(name: str) -> dict:
    """Card name, title and sha256 (the card pins every data file's sha256, so this pins the data)."""
    # not at import: the CLI parser imports this module for ORDER
    from unihub.foundation.data import load_card

    card = load_card(name)
    return {"name": card.name, "title": card.title, "card_sha256": card.sha256[:12]}


def pick(items: Sequence, n: int | None, seed: int = 0) -> list:
    """A fixed subset of ``n`` items (all when ``n`` is None or larger), in their original order."""
    if n is None or n >= len(items):
        return list(items)
    import numpy as np  # not at import: the CLI parser imports this module for ORDER

    idx = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in idx]


def relax_near(model, atoms, fmax: float, steps: int, max_volume_ratio: float = 1.5) -> dict:
    """Relax cell and positions (``unihub.foundation.simulate.relax``); refuse a cell that ran far from DFT's.

    A model whose minimum lies at 1.5x (or 1/1.5x) the DFT volume would be measured in another material:
    that is recorded as a failure, not a modulus.
    """
    from unihub.foundation.simulate import relax  # torch, not at import: the CLI parser imports this module for ORDER

    v0 = atoms.get_volume()
    r = relax(atoms, fmax=fmax, cell=True, steps=steps, calculator=model.calculator("pbe"), progress=False)
    ratio = atoms.get_volume() / v0
    if not 1 / max_volume_ratio < ratio < max_volume_ratio:
        raise ValueError(f"relaxation left the DFT cell: volume x{ratio:.2f} after {r['steps']} steps")
    return r


def column(rows: Sequence[dict], key: str):
    """One value per row as a float array (NaN where missing)."""
    import numpy as np  # not at import: the CLI parser imports this module for ORDER

    return np.array([r.get(key, np.nan) for r in rows], float)


def footer(datasets: Sequence[dict], models: Sequence[EvalModel]) -> str:
    data = ", ".join(f"{d['name']} (card {d['card_sha256']})" for d in datasets)
    revs = ", ".join(f"{m.name}@{m.revision}" for m in models)
    return f"data: {data} | models: {revs}" if data else f"models: {revs}"


class Timer:
    """Wall time per model inside a suite (``with timer(model): ...``)."""

    def __init__(self, result: SuiteResult) -> None:
        self.result = result

    def __call__(self, model: EvalModel) -> Timer:
        self._model, self._t = model.name, time.perf_counter()
        return self

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, *exc) -> None:
        self.result.seconds[self._model] = self.result.seconds.get(self._model, 0.0) + time.perf_counter() - self._t


def frame_rows(ctx: Context, res: SuiteResult, frames: Sequence, fn: Callable,
               refs: Callable[[Any], dict]) -> Iterator[tuple[EvalModel, list[dict]]]:
    """(model, its rows) for each model with a frame in its elements: ``fn(model, frame)`` on every such frame
    (timed per model), recorded with the frame's formula, ``refs(frame)`` and what ``fn`` returned. A model
    without such a frame is marked skipped."""
    from unihub.eval.models import attempt  # numpy and torch: not at import (the CLI reads ORDER)

    timer = Timer(res)
    for m in ctx.models:
        ctx.log(f"{res.name}: {m.name}")
        rows = []
        with timer(m):
            for f in ctx.covered(m, frames, f"{res.name} {m.name}"):
                a = attempt(fn, m, f)
                rows.append(res.record(m, f.group, a.error, formula=f.info.get("formula"), **refs(f),
                                       **(a.value or {})))
        if not rows:
            res.skipped[m.name] = "no structure within the model's elements"
            continue
        yield m, rows
