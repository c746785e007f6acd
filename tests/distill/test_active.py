"""Active learning: configurations graded above the threshold are labelled by the teacher and
added; the loop stops by its rule (a clean round, or the label budget)."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.finetune.distillation.active import ActiveConfig, _runs, active_learning, active_set, explore, pick
from unihub.finetune.distillation.sampling import label, rattled
from unihub.finetune.mtp import FitConfig, MTPModel, fit
from unihub.finetune.mtp.lammps.runtime import unavailable


@pytest.fixture
def cold_student(emt_teacher, rng):
    """A level-6 Cu student that has only seen a cold, slightly rattled fcc crystal."""
    start = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    start.info.update(source="prototype", name="Cu-fcc")
    train = label(emt_teacher, [start] + rattled([start], rng, n=6, sigma=0.03))
    mtp = MTPModel.from_level(6, ["Cu"], min_dist=1.9, max_dist=4.5, seed=0)

    def refit(frames, iters):
        return fit(mtp, frames, None, FitConfig(max_iter=iters, threads=1, progress=False)).train

    refit(train, 30)
    return mtp, train, start, refit


def test_extrapolating_configurations_are_labelled_and_added(cold_student, emt_teacher, tmp_path):
    mtp, train, start, refit = cold_student
    n0, calls0 = len(train), emt_teacher.calls
    cfg = ActiveConfig(threshold=1.2, steps=200, every=10, max_new=6, per_run=3, max_rounds=2, fit_iters=10)
    res = active_learning(mtp, emt_teacher, train, [start], [300, 1400], refit, cfg, log_path=tmp_path / "log.jsonl",
                          progress=False)
    r1 = res.rounds[0]
    assert r1.max_grade > cfg.threshold and r1.candidates >= r1.added > 0 and r1.added <= cfg.max_new
    assert len(train) == n0 + len(res.added) and emt_teacher.calls == calls0 + len(res.added)
    for a in res.added:
        assert a.info["source"] == "active" and a.info["grade"] > cfg.threshold
        b = a.copy()
        b.calc = EMT()
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-10)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["round"] for x in lines] == [r.round for r in res.rounds]
    assert lines[0]["fit"]["force_mae_meV_A"] > 0  # the refit ran and reported its errors
    # what was added is no longer extrapolation for the refitted student's active set
    aset = active_set(mtp, train, tol=cfg.tol)
    assert mtp.grade(res.added, aset).max() <= 1 + 2 * cfg.tol


@pytest.mark.parametrize("workers", [1, 2])
def test_stops_when_a_round_visits_nothing_above_threshold(cold_student, emt_teacher, workers):
    mtp, train, start, refit = cold_student
    cfg = ActiveConfig(threshold=1e6, stop_grade=1e7, steps=100, every=10, max_rounds=5, workers=workers)
    res = active_learning(mtp, emt_teacher, train, [start], [300, 600], refit, cfg, progress=False)
    assert res.converged and len(res.rounds) == 1 and not res.added
    assert res.rounds[0].md_steps == 200  # both runs went the full N steps


def test_stops_when_the_budget_is_spent(cold_student, emt_teacher):
    mtp, train, start, refit = cold_student
    cfg = ActiveConfig(threshold=1.0, steps=150, every=10, max_new=4, per_run=4, max_rounds=10, fit_iters=5)
    res = active_learning(mtp, emt_teacher, train, [start], [1400], refit, cfg, budget=7, progress=False)
    assert not res.converged and res.reason == "label budget spent"
    assert len(res.added) == sum(r.added for r in res.rounds) == 7 and all(r.added <= 4 for r in res.rounds)


def test_pick_takes_the_worst_spread_over_runs():
    from ase import Atoms

    found = [(g, run, Atoms("H")) for g, run in [(5, 0), (4, 0), (3, 0), (2.5, 1), (2, 1)]]
    got = pick(found, max_new=3, per_run=2)
    assert [f[0] for f in found if any(f[2] is a for a in got)] == [5, 4, 2.5]


@pytest.mark.parametrize("core", [False, True], ids=["plain", "with-core"])
def test_runs_in_worker_processes_match_the_serial_round(cold_student, core):
    """Each run is seeded by its place on the ladder: spreading runs over processes changes nothing (a student's
    repulsive core and floor travel to the workers with it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from unihub.finetune.mtp.repulsion import CoreRepulsion

    mtp, train, start, _ = cold_student
    if core:
        mtp.core = CoreRepulsion.from_structures(train, ["Cu"], mtp.cutoff)
    other = start.copy()
    other.positions += 0.02
    other.info["name"] = "Cu-fcc-shifted"
    aset = active_set(mtp, train)
    cfg = ActiveConfig(threshold=1.1, steps=60, every=10)
    serial, st1 = explore(mtp, [start, other], [300, 1400], aset, cfg, seed=3)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel, st2 = explore(mtp, [start, other], [300, 1400], aset, cfg, seed=3, pool=pool)
    assert serial, "the hot runs of a cold student must find extrapolation"
    assert [(r, a.info["name"]) for _, r, a in serial] == [(r, a.info["name"]) for _, r, a in parallel]
    np.testing.assert_allclose([g for g, _, _ in serial], [g for g, _, _ in parallel], rtol=1e-6)
    for (_, _, a), (_, _, b) in zip(serial, parallel):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-8)
    assert st1["steps"] == st2["steps"] and st1["broken"] == st2["broken"]


def test_a_start_with_its_own_ladder_tops_out_there():
    hot, own = bulk("Cu", cubic=True), bulk("Ni", cubic=True)
    own.info["temperatures"] = [900, 100]
    runs = _runs([hot, own], [300, 600, 1200], seed=0)
    assert [(r.temperature, r.top) for r in runs] == [(300, False), (600, False), (1200, True), (100, False),
                                                       (900, True)]
    assert len({r.run_id for r in runs}) == len({r.seed for r in runs}) == 5




@pytest.mark.skipif(unavailable() is not None, reason="LAMMPS is not installed")
def test_lammps_engine_grades_its_dumped_frames(cold_student, emt_teacher):
    """The student's MD in LAMMPS: frames every ``every`` steps graded afterwards, the extrapolating ones labelled."""
    mtp, train, start, refit = cold_student
    n0 = len(train)
    cfg = ActiveConfig(threshold=1.2, steps=200, every=10, max_new=4, per_run=2, max_rounds=1, fit_iters=5,
                       engine="lammps")
    res = active_learning(mtp, emt_teacher, train, [start], [300, 1400], refit, cfg, progress=False)
    r1 = res.rounds[0]
    # the 300 K run goes to the end; a hot run ends at its first frame above stop_grade, as in ASE
    assert cfg.steps <= r1.md_steps <= 2 * cfg.steps and r1.md_steps % cfg.every == 0
    assert r1.max_grade > cfg.threshold
    assert 0 < r1.added <= cfg.max_new and len(train) == n0 + r1.added
    for a in res.added:
        assert a.info["source"] == "active" and a.info["grade"] > cfg.threshold
        assert int(a.info["name"].rsplit(":", 1)[1]) % cfg.every == 0
    with pytest.raises(ValueError, match="'ase' or 'lammps'"):
        ActiveConfig(engine="gromacs")


@pytest.mark.skipif(unavailable() is not None, reason="LAMMPS is not installed")
def test_a_run_lammps_stops_gives_its_last_frame_whatever_its_grade(cold_student):
    """Atoms at 10^7 K with 20 fs steps leave the box at once: no frame grades above the (huge) threshold, yet the
    frame before the stop is a candidate, so such a round is never converged."""
    mtp, train, start, _ = cold_student
    cfg = ActiveConfig(threshold=1e6, stop_grade=1e7, steps=50, every=1, timestep=20.0, engine="lammps")
    found, st = explore(mtp, [start], [1e7], active_set(mtp, train), cfg)
    assert st["broken"] == 1 and len(found) == 1
    grade, _, atoms = found[0]
    assert grade == cfg.stop_grade and atoms.info["grade"] < cfg.threshold
