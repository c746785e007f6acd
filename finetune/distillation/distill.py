"""``distill(teacher, ...)``: a teacher potential -> an MTP student that saw only teacher labels.

Steps: starting structures (given, or generated for the elements and relaxed by the teacher);
teacher labels of those, of rattled copies and of teacher MD up a temperature ladder past
melting; a held-out tenth of those labels for student-vs-teacher errors; a first fit; active
learning on the student's own MD (``active.py``); the ``.mtp`` file and a zoo folder with the card.
The teacher labels are saved in that folder as they are made (``labels.py``), so a killed run resumes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from unihub.foundation.errors import InputError
from unihub.foundation.loading import as_model

from . import structures as st
from .active import ActiveConfig, active_learning
from .card import DistilledStudent
from .labels import STATE, load_labels, save_labels
from .sampling import EnergyFloor, label, ladder_of, own_ladder, rattled, teacher_md, temperature_ladder

log = logging.getLogger(__name__)


def teacher_revision(teacher) -> str:
    """First 12 hex digits of the sha256 of the teacher's parameters and buffers (stable across saves)."""
    from unihub.foundation.files import state_digest

    return state_digest(teacher)


def _check_teacher_elements(teacher, elements: list[str], head: str | None) -> None:
    """Refuse elements the teacher's head never saw in training (its labels there are guesses)."""
    seen = getattr(teacher, "seen_elements", None)
    if seen is None:
        return
    row = seen[teacher.fidelity_index(head)].cpu().numpy()
    if not row.any():
        return  # an untrained teacher records nothing; nothing to check against

    unseen = [e for e in elements if not row[atomic_numbers[e]]]
    if unseen:
        raise ValueError(f"the teacher never saw {unseen} for head {head or 'default'}: its labels there are "
                         "extrapolations; fine-tune it on those elements first or choose another teacher")


def _relax_prototypes(teacher, elements: list[str], head: str | None) -> dict[str, Atoms]:
    """Each prototype cell relaxed (positions and cell) by the teacher, keyed by name."""
    from unihub.foundation.simulate import relax

    out = {}
    for e in elements:
        for p in st.prototypes(e):
            a = p.copy()
            try:
                relax(a, fmax=0.02, cell=True, steps=150, calculator=teacher.calculator(head=head), progress=False)
            except (ValueError, RuntimeError) as err:
                log.info("teacher relaxation of %s failed (%s); keeping the guessed cell", p.info["name"], err)
                continue
            # a prototype the teacher finds unstable may collapse; keep the guess then
            if np.isfinite(a.cell.volume) and st.min_distance(a) > 0.7 * st.min_distance(p):
                a.calc = None
                a.info.update(p.info)
                out[p.info["name"]] = a
    return out


def _ground_state(element: str, relaxed: dict[str, Atoms]) -> Atoms | None:
    """The element's known phase (ASE's reference state) as the teacher relaxed it, else the teacher's
    lowest-energy prototype: a teacher's own ranking can be fooled by a hole in a phase it never saw."""
    known = st.known_phase(element)
    if known and f"{element}-{known}" in relaxed:
        return relaxed[f"{element}-{known}"]
    cands = [a for n, a in relaxed.items() if n.startswith(f"{element}-")]
    return min(cands, key=lambda a: a.info.get("energy_per_atom", 0.0)) if cands else None


def _ground_or_guess(element: str, relaxed: dict[str, Atoms]) -> Atoms:
    """``_ground_state``, else the unrelaxed known phase (else the first prototype)."""
    found = _ground_state(element, relaxed)
    if found is not None:
        return found
    known = st.known_phase(element)
    protos = st.prototypes(element)
    return next((p for p in protos if p.info["name"] == f"{element}-{known}"), protos[0])


def energy_floor(elements: list[str], relaxed: dict[str, Atoms]) -> EnergyFloor | None:
    """The floor under which teacher labels are holes: ground-state teacher energies per element."""
    ground = {e: _ground_state(e, relaxed) for e in elements}
    if any(g is None or "energy_per_atom" not in g.info for g in ground.values()):
        return None
    return EnergyFloor({e: g.info["energy_per_atom"] for e, g in ground.items()})


# Fractions of the melting point at which surfaces, faults and adatoms are run: the defects a test
# set relaxes sit near 0 K; hot, they would melt or roughen into what the bulk ladder already visits.
WARM = (0.1, 0.3)


def _md_starts(elements: list[str], relaxed: dict[str, Atoms], user: list[Atoms] | None, max_atoms: int,
               seed: int, max_compounds: int = 8) -> list[Atoms]:
    """Where MD starts: the user's structures, else each element's ground state (``_ground_state``) and
    the same cell with a vacancy, its surfaces, one stacking fault and, for several elements, a surface
    with an adatom of each other element (``warm_starts``), and ordered compounds (at most ``max_compounds``,
    drawn at random) and a random bcc alloy: mixed environments must be visited hot, not only at rest."""
    if user:
        return [st.supercell(a, max_atoms) for a in user]
    rng = np.random.default_rng(seed)
    starts = []
    for e in elements:
        best = st.supercell(_ground_or_guess(e, relaxed), max_atoms)
        starts += [best, st.with_vacancy(best, rng)]
    for e in elements:
        starts += warm_starts(_ground_or_guess(e, relaxed), elements, rng, max_atoms)
    if len(elements) > 1:
        compounds = st.ordered_alloys(elements)
        if len(compounds) > max_compounds:
            compounds = [compounds[i] for i in sorted(rng.choice(len(compounds), max_compounds, replace=False))]
        starts += [st.supercell(a, max_atoms) for a in compounds]
        starts.append(st.random_alloys(elements, np.random.default_rng(seed), max_atoms, n=1)[0])
    return starts


def warm_starts(ground: Atoms, elements: Sequence[str], rng: np.random.Generator, max_atoms: int) -> list[Atoms]:
    """MD starts run only at ``WARM`` fractions of the melting point: the (100), (110) and (111)
    surfaces of an element's ground state, its middle stacking fault (``structures.stacking_faults``)
    and, for each other element, the first surface with that element adsorbed on it."""
    e = ground.get_chemical_symbols()[0]
    kind = st.known_phase(e)
    slabs = st.surfaces(ground, max_atoms)
    faults = st.stacking_faults(ground, kind, max_atoms) if kind else []
    out = slabs + faults[len(faults) // 2:][:1]
    others = [x for x in elements if x != e]
    small = st.surfaces(ground, max_atoms - 1)  # room for the adatom
    if small and others:
        out += st.adsorbates(small[0], others, rng)
    for a in out:
        a.info["temperatures"] = own_ladder(a, WARM)
    return out


def pick_r_min(structures: Sequence[Atoms]) -> float:
    """Lower edge of the radial basis: 0.1 Å below the shortest distance in the data, on a 0.1 Å grid."""
    d = min(st.min_distance(a) for a in structures)
    return float(max(0.5, np.floor((d - 0.1) * 10) / 10))


def load_reference(spec: str, elements: Sequence[str]) -> tuple[str, list]:
    """DFT frames to judge the student by: ``dataset[:split]`` (e.g. ``mlearn:test``), keeping frames
    made only of ``elements``. Returns a display name and the frames."""
    from unihub.foundation.data import load_dataset

    name, _, split = spec.partition(":")
    zs = {atomic_numbers[e] for e in elements}
    frames = [f for f in load_dataset(name, split=split or None) if set(f.numbers.tolist()) <= zs]
    if not frames:
        raise ValueError(f"dataset {name!r} has no {split or 'any'} frames made of {list(elements)}")
    return f"{name} ({'-'.join(elements)}, {split or 'all'})", frames


def distill(teacher, *, elements: Sequence[str] | None = None,
            structures: str | os.PathLike | Sequence[Atoms] | None = None,
            level: int = 16, r_cut: float = 5.0, r_min: float | None = None, head: str | None = None,
            temperatures: Sequence[float] | None = None, budget: int = 1500, output: str | os.PathLike | None = None,
            md_steps: int = 400, md_every: int = 20, rattles: int = 1, fit_iters: int = 300,
            active: ActiveConfig | bool = True, reference: dict[str, Sequence] | None = None,
            max_atoms: int = 64, radial_basis_size: int = 8, seed: int = 0, threads: int | None = None,
            name: str | None = None, progress: bool = True, resume: bool = False,
            force_relative: float | None = None, force_weight: float | None = None) -> DistilledStudent:
    """Distil ``teacher`` (a hub model, name or path) into a level-``level`` MTP over ``elements``.

    ``structures`` (a file or ``Atoms``) replaces the generated starting structures;
    ``temperatures`` is one ladder for every MD start; by default each start climbs its own, 0.2-1.25x
    its composition-weighted melting point (a start's ``info["temperatures"]`` is kept);
    ``budget`` caps the teacher-labelled configurations (initial sampling + active learning);
    ``reference`` maps a name to DFT frames (``unihub.foundation.data.Frame``) to report student-vs-DFT
    errors on the card. With ``output`` ``x.mtp``, writes ``x.mtp`` and the zoo folder ``x/``
    (student.mtp, config.json, README.md card, distillation.json, checksums.json) next to it, and keeps
    the teacher labels there as they are made (labels.extxyz, labels.json); ``resume`` reuses them and
    the finished active-learning rounds of a killed run with the same teacher, head, elements and seed.
    ``force_relative`` (eV/Å) weighs the fit's force errors relatively and ``force_weight`` sets the force
    term's weight against energies (default ``unihub.finetune.mtp.FitConfig``'s).
    """
    t_start = time.perf_counter()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    teacher = as_model(teacher)
    rng = np.random.default_rng(seed)
    out_dir = _out_dir(output)
    if resume and out_dir is None:
        raise ValueError("resume needs output: the labels to resume from are kept in the output's folder")
    if not resume and out_dir is not None and (out_dir / STATE).exists():
        # starting afresh would overwrite the teacher labels an earlier (perhaps killed) run paid for
        raise InputError(f"{out_dir} holds the teacher labels of an earlier distillation ({STATE}); pass --resume "
                         "(resume=True) to continue from them, or name another -o to start afresh")
    user = None
    if structures is not None:
        user = st.read_structures(structures) if isinstance(structures, (str, os.PathLike)) else list(structures)
        if not user:
            raise ValueError("structures is empty: give at least one starting structure or leave it out")
        for i, a in enumerate(user):
            a.info.setdefault("source", "user")
            a.info.setdefault("name", f"user[{i}]")
    elements = st.check_elements(elements if elements is not None else st.elements_of(user or []))
    if user and set(st.elements_of(user)) - set(elements):
        raise ValueError(f"structures contain {sorted(set(st.elements_of(user)) - set(elements))}, "
                         f"not in elements={elements}")
    _check_teacher_elements(teacher, elements, head)
    identity = {"teacher_revision": teacher_revision(teacher), "head": head, "elements": elements, "seed": seed}
    saved = load_labels(out_dir, identity) if resume else None
    own_ladders = temperatures is None
    temperatures = sorted(temperatures) if temperatures is not None else temperature_ladder(elements)
    say = print if progress else log.info

    # 1. starting structures
    relaxed = _relax_prototypes(teacher, elements, head)
    for a in relaxed.values():  # energies rank the MD starts; one cheap batched call
        a.info["energy_per_atom"] = 0.0
    if relaxed:
        for a, r in zip(relaxed.values(), teacher.predict(list(relaxed.values()), head=head)):
            a.info["energy_per_atom"] = r["energy"] / len(a)
    starts = _md_starts(elements, relaxed, user, max_atoms, seed)
    if own_ladders:  # each start heated past its own melting point, not the highest element's
        for a in starts:
            a.info.setdefault("temperatures", own_ladder(a))

    # 2. teacher sampling
    ladders = {a.info.get("name", str(i)): ladder_of(a, temperatures) for i, a in enumerate(starts)}
    floor = energy_floor(elements, relaxed)
    cfg = active if isinstance(active, ActiveConfig) else ActiveConfig()
    if cfg.workers is None:  # one student MD run per core distillation may use
        from unihub.finetune.mtp.kernel import default_threads

        cfg = replace(cfg, workers=threads or default_threads())
    if saved is None:
        if user:
            base = []
            for a in user:
                base += [a, *st.derive(a, rng, max_atoms, surfaces_too=False)]
        else:
            base = st.generate_structures(elements, seed=seed, max_atoms=max_atoms, relaxed=relaxed)
        say(f"distill: {len(base)} starting structures; teacher MD from {len(starts)} starts: {ladders} K")
        snaps = teacher_md(teacher, starts, temperatures, md_steps, md_every, head=head, seed=seed,
                           progress=progress, floor=floor)
        pool = base + rattled(base, rng, n=rattles) + snaps
        reserve = min(cfg.max_new * cfg.max_rounds, budget // 3) if active else 0  # kept for active learning
        if len(pool) > budget - reserve:
            pool = [pool[i] for i in sorted(rng.choice(len(pool), budget - reserve, replace=False))]
        labelled = label(teacher, pool, head=head, progress=progress)
        holes = 0
        if floor is not None:
            labelled, holes = floor.drop_holes(labelled)
        order = rng.permutation(len(labelled))
        n_val = max(1, len(labelled) // 10)
        held_out = [labelled[i] for i in order[:n_val]]
        train = [labelled[i] for i in order[n_val:]]
        calls, rounds_done, converged = len(labelled) + holes, 0, False
        say(f"distill: {len(labelled)} teacher labels ({dict(Counter(a.info['source'] for a in labelled))}), "
            f"{n_val} held out, {holes} dropped below the energy floor; {time.perf_counter() - t_start:.0f} s")
    else:
        train, held_out, state = saved
        holes, calls = state["holes"], state["teacher_calls"]
        rounds_done, converged = state["rounds_done"], state["converged"]
        say(f"distill: resumed {len(train) + len(held_out)} teacher labels from {out_dir} "
            f"({rounds_done} active-learning rounds done)")

    def keep(rounds: int, spent: int, done: bool = False) -> None:
        if out_dir is not None:
            save_labels(out_dir, train, held_out, {**identity, "holes": holes, "teacher_calls": calls + spent,
                                                   "rounds_done": rounds, "converged": done})

    if saved is None:
        keep(0, 0)
        if out_dir is not None:  # fit what a resumed run would read back (extxyz rounds the labels)
            train, held_out, _ = load_labels(out_dir, identity)

    # 3. first fit
    from unihub.finetune.mtp import FitConfig, MTPModel, fit

    r_min = r_min if r_min is not None else pick_r_min(train + held_out)
    mtp = MTPModel.from_level(level, elements, min_dist=r_min, max_dist=r_cut, radial_basis_size=radial_basis_size,
                              seed=seed)

    force_weight = FitConfig.force_weight if force_weight is None else force_weight

    def refit(frames: list[Atoms], iters: int) -> dict:
        return fit(mtp, frames, None, FitConfig(max_iter=iters, threads=threads, seed=seed, progress=progress,
                                                  force_relative=force_relative, force_weight=force_weight)).train

    first = refit(train, fit_iters)
    say(f"distill: first fit F MAE {first['force_mae']:.1f} meV/Å on {len(train)} configurations; "
        f"{time.perf_counter() - t_start:.0f} s")

    # 4. active learning on the student's own MD
    log_path, earlier = None, []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        log_path = out_dir / "active_log.jsonl"
        if saved is not None and log_path.exists():  # the finished rounds of the killed run
            earlier = [r for r in map(json.loads, log_path.read_text().splitlines()) if r["round"] <= rounds_done]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in earlier))
    active_rec: dict = {"reason": "not run", "rounds": []}
    if active and converged:
        active_rec = {"reason": f"converged before the resume (round {rounds_done})", "converged": True,
                      "rounds": earlier, "config": asdict(cfg)}
    elif active:
        spent = [rounds_done, 0]  # last round, teacher calls of this run's rounds

        def after_round(r: int, calls_now: int) -> None:
            spent[:] = [r, calls_now]
            keep(r, calls_now)

        res = active_learning(mtp, teacher, train, starts, temperatures, refit, cfg, budget=budget - calls,
                              head=head, log_path=log_path, seed=seed, progress=progress, floor=floor,
                              first_round=rounds_done + 1, on_round=after_round)
        if res.converged:  # the last round's save did not know yet
            keep(*spent, True)
        active_rec = {"reason": res.reason, "converged": res.converged, "rounds": earlier + res.log_dicts(),
                      "config": asdict(cfg), "dropped_below_floor": res.dropped}

    # 5. errors and the card
    from unihub.finetune.mtp.fit import errors, prepare

    errs = {"teacher (held-out)": errors(mtp, *prepare(mtp, held_out), threads)}
    for ref_name, frames in (reference or {}).items():
        errs[ref_name] = errors(mtp, *prepare(mtp, frames), threads)
    record = {
        "teacher": getattr(teacher, "name", "") or str(type(teacher).__name__),
        "teacher_revision": teacher_revision(teacher),
        "head": head or getattr(getattr(teacher, "config", None), "default_fidelity", None),
        "elements": elements, "level": level, "cutoff": r_cut, "r_min": r_min,
        "radial_basis_size": radial_basis_size, "force_relative": force_relative,
        "force_weight": force_weight, "temperatures": ladders,
        "counts": dict(Counter(a.info.get("source", "?") for a in train + held_out)),
        "train_size": len(train), "held_out": len(held_out), "errors": errs, "active": active_rec,
        "energy_floor": {"ground_eV_per_atom": floor.ground if floor else None, "dropped_initial": holes},
        "seconds": time.perf_counter() - t_start,
    }
    student = DistilledStudent(mtp, name or f"{'-'.join(elements)}-mtp{level}", record)
    if output is not None:
        _write(student, Path(output), out_dir)
    say(f"distill: student vs teacher F MAE {errs['teacher (held-out)']['force_mae']:.1f} meV/Å; "
        f"{record['seconds']:.0f} s in all")
    return student


def _out_dir(output: str | os.PathLike | None) -> Path | None:
    if output is None:
        return None
    p = Path(output)
    return p.with_suffix("") if p.suffix == ".mtp" else p


def _write(student: DistilledStudent, output: Path, folder: Path) -> None:
    student.save(folder)
    if output.suffix == ".mtp":
        from unihub.foundation.files import atomic_write

        atomic_write(output, lambda p: student.mtp.save(p))
