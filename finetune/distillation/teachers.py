"""Teachers that label generated structures on the ``mptrj`` fidelity, and a resumable labelling job.

The ``mptrj`` fidelity is raw Materials Project GGA/GGA+U total energies (MP's settings and U values,
no MP2020 corrections). Teachers trained on raw totals (SevenNet-0) are used as they are; teachers
trained on MP2020-corrected energies (CHGNet 0.3.0) are brought back with
``raw = predicted - mp2020_correction(atoms)``. The correction depends on composition (and on the
oxide/peroxide/superoxide and sulfide type pymatgen reads from the structure), so forces and stress
are the same on both scales.

A teacher is passed in as an object (this package may import only ``unihub.foundation``). The hub's
peers become teachers like this (names and fields from ``unihub.zoo.peers``)::

    from unihub.zoo.peers import PEERS, peer_calculator

    def peer_teacher(name: str, energy_scale: str) -> Teacher:
        spec = PEERS[name]
        return Teacher(name=spec.name, revision=spec.model_revision, sha256=spec.checkpoint_sha256,
                       energy_scale=energy_scale, calculator=lambda: peer_calculator(name))

    teachers = [peer_teacher("chgnet", "mp2020"), peer_teacher("sevennet-0", "raw")]
    label_to_file(structures, teachers, Path("labels.extxyz"))

A hub model trained with an ``mptrj`` head is a ``"raw"`` teacher through that head:
``calculator=lambda: model.calculator(head="mptrj")``.

Units: energy eV (total), forces eV/Å, stress eV/Å³ with ASE's sign as 6-Voigt
``(xx, yy, zz, yz, xz, xy)``; stress only for structures periodic in all three directions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from unihub.foundation.files import atomic_write
from unihub.foundation.mp2020 import mp2020_correction
from unihub.foundation.validate import check_structure

from .labels import _plain_info

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

FIDELITY = "mptrj"
ENERGY_SCALES = ("raw", "mp2020")
STATE_FORMAT = 1
# info keys label_to_file sets; a generator's own entries under these names (or the labels') are replaced
_OWN_KEYS = ("id", "fidelity", "teachers", "energy_spread", "force_std", "weight", "teacher_energies",
             "energy", "forces", "stress", "free_energy")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Teacher:
    """A model that labels structures: who it is (``name``, ``revision``, ``sha256`` of its weights, ``""``
    for a weightless potential), which energy scale it predicts (``"raw"`` MP GGA/GGA+U totals or
    ``"mp2020"`` MP2020-corrected totals), and ``calculator``, a factory of its ASE calculator, called
    once per process on first use."""

    name: str
    revision: str
    sha256: str
    energy_scale: str
    calculator: Callable[[], Calculator] = field(compare=False, repr=False)
    _built: tuple[int, Calculator] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a teacher needs a name")
        if self.energy_scale not in ENERGY_SCALES:
            raise ValueError(f"teacher {self.name!r}: energy_scale {self.energy_scale!r} is not one of "
                             f"{ENERGY_SCALES} ('raw': MP GGA/GGA+U totals as SevenNet-0 predicts them, "
                             "'mp2020': MP2020-corrected totals as CHGNet 0.3.0 predicts them)")

    def __getstate__(self) -> dict[str, Any]:
        # a calculator does not travel to another process: the copy builds its own
        return {k: v for k, v in self.__dict__.items() if k != "_built"}

    @property
    def identity(self) -> dict[str, str]:
        """What must match for labels to be mixed or resumed: name, revision, sha256, energy scale."""
        return {"name": self.name, "revision": self.revision, "sha256": self.sha256, "energy_scale": self.energy_scale}

    def get_calculator(self) -> Calculator:
        """The teacher's ASE calculator, built once per process (a forked child builds its own)."""
        pid = os.getpid()
        if self._built is None or self._built[0] != pid:
            object.__setattr__(self, "_built", (pid, self.calculator()))
        return self._built[1]

    def predict(self, structures: Sequence[Atoms]) -> list[Label]:
        """The teacher's labels on the raw ``mptrj`` scale (mp2020 teachers have their correction removed)."""
        calc = self.get_calculator()
        out = []
        for atoms in structures:
            check_structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
            periodic = bool(atoms.pbc.all())
            b = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
            props = ["energy", "forces", "stress"] if periodic else ["energy", "forces"]
            # a fresh start per structure: labels must not depend on what the calculator saw before
            # (EMT's neighbour list does, at round-off), so a resumed run reproduces an uninterrupted one
            calc.reset()
            r = {p: calc.get_property(p, b) for p in props}
            energy = float(r["energy"])
            if self.energy_scale == "mp2020":
                energy -= mp2020_correction(atoms)
            stress = np.asarray(r["stress"], float) if periodic else None
            if stress is not None and stress.shape == (3, 3):
                stress = stress.flat[[0, 4, 8, 5, 2, 1]]
            out.append(Label(energy, np.array(r["forces"], float).reshape(len(b), 3), stress, (energy,)))
        return out


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields explicitly
class Label:
    """One structure's label on the raw ``mptrj`` scale: energy (eV, total), forces (eV/Å), stress (eV/Å³,
    ASE sign, 6-Voigt; None unless periodic in 3D); ``energies`` per teacher (eV); the teachers'
    disagreement ``energy_spread`` (max - min of energy per atom, eV/atom) and ``force_std`` (largest
    over atoms and components of the standard deviation over teachers, eV/Å); and ``weight``."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    energies: tuple[float, ...]
    energy_spread: float = 0.0
    force_std: float = 0.0
    weight: float = 1.0


@dataclass(frozen=True)
class FilterRule:
    """Down-weights frames the teachers disagree on and drops the worst.

    ``d = max(energy_spread / energy_scale, force_std / force_scale)``, ``weight = 1 / (1 + d**2)``;
    a frame with ``d > drop_above`` (or a non-finite label) is dropped (weight 0). The defaults
    (0.05 eV/atom, 0.2 eV/Å, 3) keep frames at full weight while the teachers agree as well as two good
    universal potentials do, and drop those with spread > 0.15 eV/atom or force std > 0.6 eV/Å, where
    at least one teacher is off its training data. ``drop_above=inf`` never drops."""

    energy_scale: float = 0.05
    force_scale: float = 0.2
    drop_above: float = 3.0

    def __post_init__(self) -> None:
        if not (self.energy_scale > 0 and self.force_scale > 0 and self.drop_above >= 0):
            raise ValueError(f"FilterRule needs positive scales and drop_above >= 0, got {self}")

    def disagreement(self, energy_spread: float, force_std: float) -> float:
        """The dimensionless disagreement ``d`` (nan for non-finite inputs)."""
        d = max(energy_spread / self.energy_scale, force_std / self.force_scale)
        return float(d) if np.isfinite(energy_spread) and np.isfinite(force_std) else float("nan")

    def weight(self, energy_spread: float, force_std: float) -> float:
        """``1 / (1 + d**2)``, or 0 for a frame to drop."""
        d = self.disagreement(energy_spread, force_std)
        return 0.0 if not d <= self.drop_above else 1.0 / (1.0 + d * d)


def label(teachers: Sequence[Teacher], structures: Sequence[Atoms], rule: FilterRule | None = None) -> list[Label]:
    """Each structure's mean label over ``teachers`` (all on the raw ``mptrj`` scale), their
    disagreement, and the ``rule``'s weight (default :class:`FilterRule`; 0 marks a frame to drop)."""
    if not teachers:
        raise ValueError("label needs at least one teacher")
    rule = rule or FilterRule()
    structures = list(structures)
    per_teacher = [t.predict(structures) for t in teachers]
    out = []
    for i, atoms in enumerate(structures):
        ls = [p[i] for p in per_teacher]
        e = np.array([x.energy for x in ls])
        f = np.stack([x.forces for x in ls])
        spread = float(np.ptp(e)) / len(atoms)
        fstd = float(f.std(axis=0).max())
        stress = None if ls[0].stress is None else np.mean([x.stress for x in ls], axis=0)
        out.append(Label(float(e.mean()), f.mean(axis=0), stress, tuple(map(float, e)), spread, fstd,
                         rule.weight(spread, fstd)))
    return out


def teachers_tag(teachers: Sequence[Teacher]) -> str:
    """``name@revision`` of each teacher, comma-separated (the ``teachers`` info key)."""
    return ",".join(f"{t.name}@{t.revision}" for t in teachers)


def state_path(out: str | os.PathLike) -> Path:
    """The state file beside a labelling job's output: ``<out>.state.json``."""
    out = Path(out)
    return out.with_name(out.name + ".state.json")


def label_to_file(structures: Iterable[Atoms], teachers: Sequence[Teacher], out: str | os.PathLike,
                  batch_size: int = 16, log: Callable[[str], object] | str | os.PathLike | None = None,
                  rule: FilterRule | None = None) -> dict[str, Any]:
    """Label ``structures`` with ``teachers`` and append them to the extxyz file ``out``, in batches,
    resumably.

    Every structure needs a deterministic ``atoms.info["id"]`` (compared as a string). A frame carries
    energy, forces and stress as calculator results (``ase.io.read`` gives them back) and the info keys
    ``id``, ``fidelity="mptrj"``, ``teachers``, ``energy_spread``, ``force_std``, ``weight`` and
    ``teacher_energies``; the generator's other plain info entries are kept. Frames the ``rule`` drops
    are not written; their ids are recorded as dropped.

    After each batch the frames are appended (fsync) and ``<out>.state.json`` is rewritten atomically
    with the done and dropped ids, counts, the teachers' identities, the rule, and the size and sha256
    of ``out``. A rerun skips ids already done, refuses other teachers or another rule, cuts a partial
    trailing batch left by a kill, and refuses an output that is shorter than recorded or was edited.
    A kill loses at most the batch in flight. ``log`` gets one line per batch: a callable, a file path
    (lines appended) or None (this module's logger). Returns a summary of the run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not teachers:
        raise ValueError("label_to_file needs at least one teacher")
    rule = rule or FilterRule()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_file, batch_file = state_path(out), out.with_name(f".{out.name}.batch")
    emit = _logger(log)
    state, hasher = _open_state(out, state_file, [t.identity for t in teachers], asdict(rule), emit)
    done, dropped = set(state["done"]), set(state["dropped"])
    tag = teachers_tag(teachers)
    total = len(structures) if hasattr(structures, "__len__") else None
    skipped: list[str] = []
    labelled = 0
    started = time.monotonic()
    batch_file.unlink(missing_ok=True)
    if state["bytes"] == 0 and not state_file.exists():
        _save_state(state_file, state)  # a kill before the first batch must still leave a state that owns the output
    for batch in _batches(structures, done, dropped, batch_size, skipped):
        rows, kept_ids, dropped_ids = _labelled_frames(batch, teachers, rule, tag)
        if rows:
            data = _append_frames(out, batch_file, rows)
            hasher.update(data)
            state["bytes"] += len(data)
        done.update(kept_ids)
        dropped.update(dropped_ids)
        state["done"] += kept_ids
        state["dropped"] += dropped_ids
        state.update(written=len(state["done"]), dropped_count=len(state["dropped"]), sha256=hasher.hexdigest())
        _save_state(state_file, state)
        labelled += len(batch)
        rate = labelled / max(time.monotonic() - started, 1e-9)
        emit(_progress(len(done) + len(dropped), total, rate, len(kept_ids), len(dropped_ids)))
    return {"out": str(out), "written": state["written"], "dropped": state["dropped_count"], "skipped": len(skipped),
            "labelled": labelled, "bytes": state["bytes"], "sha256": state["sha256"]}


def _batches(structures: Iterable[Atoms], done: set[str], dropped: set[str], batch_size: int,
             skipped: list[str]) -> Iterator[list[Atoms]]:
    """The structures not yet done or dropped, in batches of ``batch_size`` (the last may be shorter); the
    ids passed over go to ``skipped``. ``done`` and ``dropped`` are read as each structure comes, so they
    may grow between batches."""
    seen: set[str] = set()
    batch: list[Atoms] = []
    for i, atoms in enumerate(structures):
        if "id" not in atoms.info:
            raise ValueError(f"structure {i} ({atoms.get_chemical_formula()}) has no atoms.info['id']; "
                             "the generator must give every structure a deterministic id")
        key = str(atoms.info["id"])
        if key in done or key in dropped:
            skipped.append(key)
            continue
        if key in seen:
            raise ValueError(f"structure id {key!r} appears twice in the input; ids must be unique")
        seen.add(key)
        batch.append(atoms)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _labelled_frames(batch: list[Atoms], teachers: Sequence[Teacher], rule: FilterRule,
                     tag: str) -> tuple[list[Atoms], list[str], list[str]]:
    """The batch's frames the ``rule`` keeps, with their labels as calculator results and info keys, and
    the ids kept and dropped."""
    rows, kept_ids, dropped_ids = [], [], []
    for atoms, lab in zip(batch, label(teachers, batch, rule)):
        key = str(atoms.info["id"])
        if lab.weight <= 0.0:
            dropped_ids.append(key)
            continue
        b = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        b.info = {k: v for k, v in _plain_info(atoms.info).items() if k not in _OWN_KEYS}
        b.info.update(id=atoms.info["id"], fidelity=FIDELITY, teachers=tag, energy_spread=lab.energy_spread,
                      force_std=lab.force_std, weight=lab.weight, teacher_energies=np.array(lab.energies))
        results = {"energy": lab.energy, "forces": lab.forces}
        if lab.stress is not None:
            results["stress"] = lab.stress
        b.calc = SinglePointCalculator(b, **results)
        rows.append(b)
        kept_ids.append(key)
    return rows, kept_ids, dropped_ids


def _append_frames(out: Path, batch_file: Path, rows: list[Atoms]) -> bytes:
    """Append ``rows`` to ``out`` as extxyz (fsync); returns the bytes appended."""
    # the batch goes through a file so a kill mid-write never touches the output
    write(batch_file, rows, format="extxyz")
    data = batch_file.read_bytes()
    with open(out, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    batch_file.unlink()
    return data


def _save_state(state_file: Path, state: dict[str, Any]) -> None:
    """Rewrite the job's state file atomically and durably."""
    def write_json(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(state_file, write_json)
    _fsync_dir(state_file.parent)


def _progress(finished: int, total: int | None, rate: float, kept: int, dropped: int) -> str:
    """The log line after a batch: structures finished (of ``total``), the batch's counts, rate and ETA."""
    progress = f"{finished}/{total}" if total is not None else f"{finished}"
    eta = ""
    if total is not None:
        eta = f", ETA {timedelta(seconds=round(max(total - finished, 0) / rate))}"
    return (f"labelled {progress} structures (+{kept} written, +{dropped} dropped), "
            f"{rate:.2f} structures/s{eta}")


def _open_state(out: Path, state_file: Path, identity: list[dict], rule: dict,
                emit: Callable[[str], object]) -> tuple[dict[str, Any], Any]:
    """The job's state (new, or checked against the teachers, the rule and the output) and a sha256
    hasher fed with the output's recorded bytes."""
    hasher = hashlib.sha256()
    if not state_file.exists():
        if out.exists() and out.stat().st_size > 0:
            raise ValueError(f"{out} exists but has no state file {state_file.name}: it was not written by "
                             "label_to_file or its state was lost; move it away or choose another output")
        out.unlink(missing_ok=True)
        state = {"format": STATE_FORMAT, "fidelity": FIDELITY, "teachers": identity, "rule": rule,
                 "done": [], "dropped": [], "written": 0, "dropped_count": 0, "bytes": 0, "sha256": hasher.hexdigest()}
        return state, hasher
    state = json.loads(state_file.read_text())
    if state.get("format") != STATE_FORMAT or state.get("fidelity") != FIDELITY:
        raise ValueError(f"{state_file} is not a labelling state this version reads "
                         f"(format {state.get('format')!r}, fidelity {state.get('fidelity')!r})")
    if state["teachers"] != identity:
        raise ValueError(f"{out} was labelled by teachers {_describe(state['teachers'])}, not by "
                         f"{_describe(identity)}; resume with the same teachers, or write to another output")
    if state["rule"] != rule:
        raise ValueError(f"{out} was filtered with {state['rule']}, not {rule}; resume with the same FilterRule, "
                         "or write to another output")
    size = out.stat().st_size if out.exists() else 0
    if size < state["bytes"]:
        raise ValueError(f"{out} has {size} bytes, fewer than the {state['bytes']} recorded in {state_file.name}: "
                         "it was truncated or replaced; remove both files to start afresh")
    if size > state["bytes"]:
        # a kill after the append and before the state write, or in the middle of the append
        emit(f"{out}: cutting {size - state['bytes']} bytes of an unfinished batch")
        with open(out, "r+b") as fh:
            fh.truncate(state["bytes"])
            fh.flush()
            os.fsync(fh.fileno())
    if out.exists():
        with open(out, "rb") as fh:
            while block := fh.read(1 << 20):
                hasher.update(block)
    if hasher.hexdigest() != state["sha256"]:
        raise ValueError(f"{out} does not match the sha256 recorded in {state_file.name}: it was edited; "
                         "remove both files to start afresh")
    return state, hasher


def _describe(identity: list[dict]) -> str:
    return ", ".join(f"{t['name']}@{t['revision']} ({t['energy_scale']}, sha256 {t['sha256'][:12] or '-'})"
                     for t in identity)


def _logger(log: Callable[[str], object] | str | os.PathLike | None) -> Callable[[str], object]:
    if log is None:
        return _log.info
    if callable(log):
        return log
    path = Path(log)

    def to_file(line: str) -> None:
        with open(path, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    return to_file


def _fsync_dir(folder: Path) -> None:
    # the rename itself survives a power cut only once the directory entry is on disk
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
