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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from unihub.finetune.mtp import FitConfig, MTPModel, fit
from unihub.finetune.mtp.fit import errors, prepare
from unihub.finetune.mtp.kernel import default_threads
from unihub.finetune.mtp.repulsion import CoreRepulsion
from unihub.foundation.data import load_dataset
from unihub.foundation.errors import InputError
from unihub.foundation.files import state_digest
from unihub.foundation.loading import as_model
from unihub.foundation.simulate import relax

from . import structures as st
from .active import ActiveConfig, active_learning
from .card import DistilledStudent
from .config import DistillConfig
from .labels import STATE, load_labels, save_labels
from .sampling import (
    EnergyFloor,
    label,
    ladder_of,
    own_ladder,
    rattled,
    reduced_formula,
    teacher_md,
    temperature_ladder,
)

log = logging.getLogger(__name__)
CONFIG_FILE = "distill-config.yaml"  # the run's settings, in the output folder next to the labels


def teacher_revision(teacher) -> str:
    """First 12 hex digits of the sha256 of the teacher's parameters and buffers (stable across saves)."""

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


def energy_floor(elements: list[str], relaxed: dict[str, Atoms],
                 anchors: dict[str, float] | None = None) -> EnergyFloor | None:
    """The floor under which teacher labels are holes: ground-state teacher energies per element (all of them
    or none) and ``anchors``, the lowest teacher energy per atom of each reduced composition the user gave."""
    ground = {e: _ground_state(e, relaxed) for e in elements}
    known = {e: g.info["energy_per_atom"] for e, g in ground.items() if g is not None and "energy_per_atom" in g.info}
    if len(known) < len(elements):
        known = {}
    if not known and not anchors:
        return None
    return EnergyFloor(known, anchors=anchors)


def user_anchors(teacher, user: list[Atoms] | None, head: str | None) -> dict[str, float]:
    """The lowest teacher energy per atom of each reduced composition among the user's structures."""
    out: dict[str, float] = {}
    for a, r in zip(user or [], teacher.predict(list(user), head=head) if user else []):
        key = reduced_formula(a)
        out[key] = min(out.get(key, np.inf), float(r["energy"]) / len(a))
    return out


# Fractions of the melting point at which surfaces, faults and adatoms are run: the defects a test
# set relaxes sit near 0 K; hot, they would melt or roughen into what the bulk ladder already visits.
WARM = (0.1, 0.3)


def _md_starts(elements: list[str], relaxed: dict[str, Atoms], user: list[Atoms] | None, max_atoms: int,
               seed: int, max_compounds: int = 8) -> list[Atoms]:
    """Where MD starts: the user's structures (one per relaxation run, ``one_per_group``), else each
    element's ground state (``_ground_state``) and the same cell with a vacancy, its surfaces, one stacking
    fault and, for several elements, a surface with an adatom of each other element (``warm_starts``), and
    ordered compounds (at most ``max_compounds``, drawn at random) and a random bcc alloy: mixed environments
    must be visited hot, not only at rest."""
    if user:
        return [st.supercell(a, max_atoms) for a in st.one_per_group(user)]
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

    name, _, split = spec.partition(":")
    zs = {atomic_numbers[e] for e in elements}
    frames = [f for f in load_dataset(name, split=split or None) if set(f.numbers.tolist()) <= zs]
    if not frames:
        raise ValueError(f"dataset {name!r} has no {split or 'any'} frames made of {list(elements)}")
    return f"{name} ({'-'.join(elements)}, {split or 'all'})", frames


@dataclass
class _Run:
    """What the steps of one distillation share."""

    teacher: object
    cfg: DistillConfig
    elements: list[str]
    user: list[Atoms] | None  # the user's starting structures
    out_dir: Path | None  # where the labels and the zoo folder go
    identity: dict  # what a resumed run must share with the saved labels
    rng: np.random.Generator
    say: Callable[[str], object]
    t_start: float
    temperatures: list[float] = field(default_factory=list)
    relaxed: dict[str, Atoms] = field(default_factory=dict)
    starts: list[Atoms] = field(default_factory=list)
    ladders: dict[str, list] = field(default_factory=dict)
    floor: EnergyFloor | None = None
    active: ActiveConfig = field(default_factory=ActiveConfig)  # with the MD workers set
    r_min: float | None = None  # the student's, as fitted
    force_weight: float | None = None

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.t_start:.0f} s"


@dataclass
class _Labels:
    """The teacher labels, split, with the counts a resumed run carries on from."""

    train: list[Atoms]  # grows in place during active learning
    held_out: list[Atoms]
    holes: int  # labels dropped below the energy floor
    calls: int  # teacher labels paid for before active learning
    rounds_done: int = 0
    converged: bool = False
    resumed: bool = False  # read back from a killed run's folder

    def keep(self, run: _Run, rounds: int, spent: int, done: bool = False) -> None:
        """Save the labels to the output folder (``spent``: teacher calls of this run's rounds)."""
        if run.out_dir is not None:
            save_labels(run.out_dir, self.train, self.held_out,
                        {**run.identity, "holes": self.holes, "teacher_calls": self.calls + spent,
                         "rounds_done": rounds, "converged": done})


def distill(teacher, config: DistillConfig | dict | None = None, *,
            structures: str | os.PathLike | Sequence[Atoms] | None = None,
            reference: dict[str, Sequence] | None = None, output: str | os.PathLike | None = None,
            resume: bool = False, **overrides) -> DistilledStudent:
    """Distil ``teacher`` (a hub model, name or path) into a level-``level`` MTP over ``elements``.

    ``config`` is a ``DistillConfig`` (or its mapping); ``overrides`` replace its settings by field name or
    by the flat keyword names (``level=16, md_steps=400, fit_iters=300``); unknown names are refused.
    ``structures`` (a file or ``Atoms``) replaces the generated starting structures;
    ``temperatures`` is one ladder for every MD start; by default each start climbs its own, 0.2-1.25x
    its composition-weighted melting point (a start's ``info["temperatures"]`` is kept);
    ``budget`` caps the teacher-labelled configurations (initial sampling + active learning);
    ``reference`` maps a name to DFT frames (``unihub.foundation.data.Frame``) to report student-vs-DFT
    errors on the card. With ``output`` ``x.mtp``, writes ``x.mtp`` and the zoo folder ``x/``
    (student.mtp, config.json, README.md card, distillation.json, checksums.json, the settings as
    ``CONFIG_FILE``) next to it, and keeps the teacher labels there as they are made (labels.extxyz,
    labels.json); ``resume`` reuses them and the finished active-learning rounds of a killed run with the
    same teacher, head, elements and seed.
    ``force_relative`` (eV/Å) weighs the fit's force errors relatively and ``force_weight`` sets the force
    term's weight against energies (default ``unihub.finetune.mtp.FitConfig``'s).
    """
    if isinstance(config, dict):
        config = DistillConfig.from_dict(config)
    cfg = (config or DistillConfig()).with_overrides(**overrides)
    run = _start(teacher, cfg, structures, output, resume)
    saved = load_labels(run.out_dir, run.identity) if resume else None
    if run.out_dir is not None:
        cfg.to_yaml(run.out_dir / CONFIG_FILE)
    _sampling_plan(run)
    labels = _resumed_labels(run, saved) if saved is not None else _new_labels(run)
    mtp, refit = _first_fit(run, labels)
    active_rec = _active_rounds(run, labels, mtp, refit)
    return _card(run, labels, mtp, active_rec, reference, output)


def _start(teacher, cfg: DistillConfig, structures, output, resume: bool) -> _Run:
    """Check the teacher, the output folder, the starting structures and the elements before any work."""
    t_start = time.perf_counter()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    teacher = as_model(teacher)
    rng = np.random.default_rng(cfg.seed)
    out_dir = _out_dir(output)
    if resume and out_dir is None:
        raise ValueError("resume needs output: the labels to resume from are kept in the output's folder")
    if not resume and out_dir is not None and (out_dir / STATE).exists():
        # starting afresh would overwrite the teacher labels an earlier (perhaps killed) run paid for
        raise InputError(f"{out_dir} holds the teacher labels of an earlier distillation ({STATE}); pass --resume "
                         "(resume=True) to continue from them, or name another -o to start afresh")
    if out_dir is not None and not (out_dir / STATE).exists():
        # -o x.mtp also writes the folder x/: never over a model or other files that are not a distillation's
        taken = [p for p in (out_dir, Path(output)) if p.exists() and (p.is_file() or any(p.iterdir()))]
        if taken:
            raise InputError(f"-o {output}: {taken[0]} already exists and is not an earlier distillation of this "
                             f"output (a distillation writes {out_dir}/ and {out_dir}.mtp); name another -o")
    user = _user_structures(structures)
    elements = st.check_elements(cfg.elements if cfg.elements is not None else st.elements_of(user or []))
    if user and set(st.elements_of(user)) - set(elements):
        raise ValueError(f"structures contain {sorted(set(st.elements_of(user)) - set(elements))}, "
                         f"not in elements={elements}")
    _check_teacher_elements(teacher, elements, cfg.head)
    identity = {"teacher_revision": teacher_revision(teacher), "head": cfg.head, "elements": elements,
                "seed": cfg.seed}
    return _Run(teacher, cfg, elements, user, out_dir, identity, rng, print if cfg.progress else log.info, t_start)


def _user_structures(structures) -> list[Atoms] | None:
    """The user's starting structures (a file or ``Atoms``), each named and marked as the user's."""
    if structures is None:
        return None
    user = st.read_structures(structures) if isinstance(structures, (str, os.PathLike)) else list(structures)
    if not user:
        raise ValueError("structures is empty: give at least one starting structure or leave it out")
    for i, a in enumerate(user):
        a.info.setdefault("source", "user")
        a.info.setdefault("name", f"user[{i}]")
    return user


def _sampling_plan(run: _Run) -> None:
    """Relax the prototypes with the teacher and set the MD starts, their temperature ladders, the energy
    floor and the active-learning settings."""
    cfg, teacher, head = run.cfg, run.teacher, run.cfg.head
    temperatures = cfg.sampling.temperatures
    run.temperatures = sorted(temperatures) if temperatures is not None else temperature_ladder(run.elements)
    run.relaxed = _relax_prototypes(teacher, run.elements, head)
    for a in run.relaxed.values():  # energies rank the MD starts; one cheap batched call
        a.info["energy_per_atom"] = 0.0
    if run.relaxed:
        for a, r in zip(run.relaxed.values(), teacher.predict(list(run.relaxed.values()), head=head)):
            a.info["energy_per_atom"] = r["energy"] / len(a)
    run.starts = _md_starts(run.elements, run.relaxed, run.user, cfg.sampling.max_atoms, cfg.seed)
    if temperatures is None:  # each start heated past its own melting point, not the highest element's
        for a in run.starts:
            a.info.setdefault("temperatures", own_ladder(a))
    run.ladders = {a.info.get("name", str(i)): ladder_of(a, run.temperatures) for i, a in enumerate(run.starts)}
    run.floor = energy_floor(run.elements, run.relaxed, user_anchors(teacher, run.user, head))
    active = cfg.active if isinstance(cfg.active, ActiveConfig) else ActiveConfig()
    if active.workers is None:  # one student MD run per core distillation may use

        active = replace(active, workers=cfg.threads or default_threads())
    run.active = active


def _resumed_labels(run: _Run, saved: tuple) -> _Labels:
    """The labels and counts a killed run saved."""
    train, held_out, state = saved
    run.say(f"distill: resumed {len(train) + len(held_out)} teacher labels from {run.out_dir} "
            f"({state['rounds_done']} active-learning rounds done)")
    return _Labels(train, held_out, state["holes"], state["teacher_calls"], state["rounds_done"],
                   state["converged"], resumed=True)


def _new_labels(run: _Run) -> _Labels:
    """New teacher labels (``_sample_and_label``), saved, and fitted as a resumed run reads them back
    (extxyz rounds the labels)."""
    labels = _sample_and_label(run)
    labels.keep(run, 0, 0)
    if run.out_dir is not None:
        labels.train, labels.held_out, _ = load_labels(run.out_dir, run.identity)
    return labels


def _sample_and_label(run: _Run) -> _Labels:
    """Teacher MD from the starts, rattled and derived structures, within the budget (a reserve kept for
    active learning), labelled by the teacher; holes under the energy floor dropped, a tenth held out."""
    cfg, s, rng = run.cfg, run.cfg.sampling, run.rng
    if run.user:
        base = []
        for a in run.user:
            base += [a, *st.derive(a, rng, s.max_atoms, surfaces_too=False)]
    else:
        base = st.generate_structures(run.elements, seed=cfg.seed, max_atoms=s.max_atoms, relaxed=run.relaxed)
    run.say(f"distill: {len(base)} starting structures; teacher MD from {len(run.starts)} starts: {run.ladders} K")
    snaps = teacher_md(run.teacher, run.starts, run.temperatures, s.md_steps, s.md_every, head=cfg.head,
                       seed=cfg.seed, progress=cfg.progress, floor=run.floor)
    pool = base + rattled(base, rng, n=s.rattles) + snaps
    reserve = min(run.active.max_new * run.active.max_rounds, cfg.budget // 3) if cfg.active else 0
    if len(pool) > cfg.budget - reserve:
        pool = [pool[i] for i in sorted(rng.choice(len(pool), cfg.budget - reserve, replace=False))]
    labelled = label(run.teacher, pool, head=cfg.head, progress=cfg.progress)
    holes = 0
    if run.floor is not None:
        labelled, holes = run.floor.drop_holes(labelled)
    order = rng.permutation(len(labelled))
    n_val = max(1, len(labelled) // 10)
    run.say(f"distill: {len(labelled)} teacher labels ({dict(Counter(a.info['source'] for a in labelled))}), "
            f"{n_val} held out, {holes} dropped below the energy floor; {run.elapsed()}")
    return _Labels([labelled[i] for i in order[n_val:]], [labelled[i] for i in order[:n_val]], holes,
                   len(labelled) + holes)


def _first_fit(run: _Run, labels: _Labels):
    """The MTP student fitted to the training labels, and ``refit(frames, iters)`` for active learning."""

    f, seed, threads = run.cfg.fit, run.cfg.seed, run.cfg.threads
    r_min = f.r_min if f.r_min is not None else pick_r_min(labels.train + labels.held_out)
    mtp = MTPModel.from_level(f.level, run.elements, min_dist=r_min, max_dist=f.r_cut,
                              radial_basis_size=f.radial_basis_size, seed=seed)
    run.r_min = r_min
    if f.core_width is not None:  # set once, from the first labels; the refits fit what it leaves
        mtp.core = CoreRepulsion.from_structures(labels.train + labels.held_out, run.elements, f.r_cut, f.core_width)
    run.force_weight = FitConfig.force_weight if f.force_weight is None else f.force_weight
    fit_cfg = FitConfig(threads=threads, seed=seed, progress=run.cfg.progress, force_relative=f.force_relative,
                        force_weight=run.force_weight)

    def refit(frames: list[Atoms], iters: int) -> dict:
        return fit(mtp, frames, None, replace(fit_cfg, max_iter=iters)).train

    first = refit(labels.train, f.iters)
    run.say(f"distill: first fit F MAE {first['force_mae_meV_A']:.1f} meV/Å on {len(labels.train)} configurations; "
            f"{run.elapsed()}")
    return mtp, refit


def _active_rounds(run: _Run, labels: _Labels, mtp, refit) -> dict:
    """Active learning on the student's own MD from where a resumed run stopped; its record for the card
    (the rounds also go to ``active_log.jsonl`` in the output folder)."""
    log_path, earlier = None, []
    if run.out_dir is not None:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        log_path = run.out_dir / "active_log.jsonl"
        if labels.resumed and log_path.exists():  # the finished rounds of the killed run
            earlier = [r for r in map(json.loads, log_path.read_text().splitlines())
                       if r["round"] <= labels.rounds_done]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in earlier))
    if not run.cfg.active:
        return {"reason": "not run", "rounds": []}
    if labels.converged:
        return {"reason": f"converged before the resume (round {labels.rounds_done})", "converged": True,
                "rounds": earlier, "config": asdict(run.active)}
    spent = [labels.rounds_done, 0]  # last round, teacher calls of this run's rounds

    def after_round(r: int, calls_now: int) -> None:
        spent[:] = [r, calls_now]
        labels.keep(run, r, calls_now)

    res = active_learning(mtp, run.teacher, labels.train, run.starts, run.temperatures, refit, run.active,
                          budget=run.cfg.budget - labels.calls, head=run.cfg.head, log_path=log_path,
                          seed=run.cfg.seed, progress=run.cfg.progress, floor=run.floor,
                          first_round=labels.rounds_done + 1, on_round=after_round)
    if res.converged:  # the last round's save did not know yet
        labels.keep(run, *spent, True)
    return {"reason": res.reason, "converged": res.converged, "rounds": earlier + res.log_dicts(),
            "config": asdict(run.active), "dropped_below_floor": res.dropped}


def _card(run: _Run, labels: _Labels, mtp, active_rec: dict, reference, output) -> DistilledStudent:
    """Student-vs-teacher (held-out) and student-vs-reference errors, the record and the student, written
    to ``output`` if given."""

    cfg, f, threads = run.cfg, run.cfg.fit, run.cfg.threads
    errs = {"teacher (held-out)": errors(mtp, *prepare(mtp, labels.held_out), threads)}
    for ref_name, frames in (reference or {}).items():
        errs[ref_name] = errors(mtp, *prepare(mtp, frames), threads)
    record = {
        "teacher": getattr(run.teacher, "name", "") or str(type(run.teacher).__name__),
        "teacher_revision": teacher_revision(run.teacher),
        "head": cfg.head or getattr(getattr(run.teacher, "config", None), "default_fidelity", None),
        "elements": run.elements, "level": f.level, "cutoff": f.r_cut, "r_min": run.r_min,
        "radial_basis_size": f.radial_basis_size, "force_relative": f.force_relative,
        "force_weight": run.force_weight,
        "temperatures": run.ladders,
        "counts": dict(Counter(a.info.get("source", "?") for a in labels.train + labels.held_out)),
        "train_size": len(labels.train), "held_out": len(labels.held_out), "errors": errs, "active": active_rec,
        "energy_floor": {"ground_eV_per_atom": run.floor.ground if run.floor else None,
                         "anchors_eV_per_atom": run.floor.anchors if run.floor else None,
                         "dropped_initial": labels.holes},
        "core": None if mtp.core is None else {
            f"{mtp.core.section(a, b)}": [float(mtp.core.r_in[a, b]), float(mtp.core.r_out[a, b])]
            for a, b in mtp.core.pairs()},
        "seconds": time.perf_counter() - run.t_start,
    }
    student = DistilledStudent(mtp, cfg.name or f"{'-'.join(run.elements)}-mtp{f.level}", record)
    if output is not None:
        _write(student, Path(output), run.out_dir)
    run.say(f"distill: student vs teacher F MAE {errs['teacher (held-out)']['force_mae_meV_A']:.1f} meV/Å; "
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
        student.mtp.save(output)  # atomic; with a core, x.core.table beside it
