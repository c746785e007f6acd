"""Every model a report can judge, behind one face: hub models (universal, fine-tuned, MTP students) and peers.

A suite never asks what kind of model it holds: it asks :meth:`EvalModel.covers` (students only know
their elements), :meth:`EvalModel.single_point` and :meth:`EvalModel.calculator`. A model failing on
one structure raises; the suites turn that into a recorded failure (:func:`attempt`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from unihub.foundation.files import state_digest
from unihub.foundation.served import StudentModel
from unihub.zoo import load_model, peers


@dataclass
class EvalModel:
    """A model under evaluation: a name, a revision that pins its weights, and how to call it."""

    name: str
    kind: str  # 'universal' | 'student' | 'peer'
    revision: str
    model: Any = None  # hub model (``predict``/``calculator``); None for peers
    peer: str | None = None
    elements: frozenset[int] | None = None  # None: the whole periodic table
    heads: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    _calcs: dict = field(default_factory=dict, repr=False)

    def trained_on(self) -> frozenset[str]:
        """Card names (or ``card/file stem``) of the data the model was trained on, as far as it is known."""
        if self.peer is not None:
            return frozenset(peers.PEERS[self.peer].training_sets)
        cfg = getattr(self.model, "extra_config", {}).get("training", {}).get("config", {})
        return frozenset(cfg.get("data", {}).get("datasets", []))

    def in_distribution(self, datasets: Iterable[str]) -> bool:
        """Whether the model trained on any of ``datasets`` (a card covers its files)."""
        mine = self.trained_on()
        return any(d in mine or d.split("/")[0] in mine for d in datasets)

    def covers(self, numbers: Iterable[int]) -> bool:
        """Whether every element of a structure is one the model knows (always true but for students)."""
        return self.elements is None or set(int(z) for z in numbers) <= self.elements

    def head_for(self, fidelity: str | None) -> str | None:
        """The model's head for a DFT fidelity, falling back to PBE (peers and students have one head)."""
        if not self.heads:
            return None
        return fidelity if fidelity in self.heads else ("pbe" if "pbe" in self.heads else self.heads[0])

    def energy_scale(self, fidelity: str | None = "mptrj") -> str | None:
        """What its energies on ``fidelity``'s head are: ``"raw"`` MP GGA/GGA+U totals, ``"mp2020"``
        (MP2020-corrected totals), or None (the head's own zero, e.g. a PBE head trained on other codes)."""
        if self.peer is not None:
            return peers.peer_info(self.peer)["energy_scale"]
        return "raw" if self.head_for(fidelity) == "mptrj" else None

    def calculator(self, fidelity: str | None = "pbe"):
        """An ASE calculator (cached per head: peers are slow to build)."""
        head = self.head_for(fidelity)
        if head not in self._calcs:
            if self.peer is not None:
                self._calcs[head] = peers.peer_calculator(self.peer)
            else:
                self._calcs[head] = self.model.calculator(head=head)
        return self._calcs[head]

    def single_point(self, atoms, fidelity: str | None = "pbe", forces: bool = True, stress: bool = True) -> dict:
        """Energy (eV), forces (eV/Å) and, for periodic cells, stress (3x3 eV/Å³, ASE sign)."""
        if self.kind == "universal":
            r = self.model.predict([atoms], head=self.head_for(fidelity), forces=forces, stress=stress)[0]
        else:
            a = atoms.copy()
            a.calc = self.calculator(fidelity)
            r = {"energy": float(a.get_potential_energy())}
            if forces:
                r["forces"] = np.asarray(a.get_forces())
            if stress and a.pbc.all():
                r["stress"] = np.asarray(a.get_stress(voigt=False))
        if not np.isfinite(r["energy"]) or ("forces" in r and not np.isfinite(r["forces"]).all()):
            raise FloatingPointError("non-finite energy or forces")
        return r

    def energy_shift(self, frame) -> float | None:
        """eV to add to this model's energy to put it on the zero of the frame's dataset, when the model ships
        the per-(dataset, fidelity) alignment it was trained with (``energy_alignment``); None otherwise."""
        table = (getattr(self.model, "extra_config", None) or {}).get("energy_alignment") or {}
        shifts = table.get(f"{frame.dataset}/{frame.fidelity}")
        if shifts is None:
            return None

        return float(sum(shifts.get(chemical_symbols[z], 0.0) for z in frame.numbers))

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "revision": self.revision,
                "elements": None if self.elements is None else _symbols(self.elements), **self.info}


def _symbols(numbers: Iterable[int]) -> list[str]:
    return [chemical_symbols[z] for z in sorted(numbers)]


def wrap_hub_model(model, name: str | None = None) -> EvalModel:
    """An :class:`EvalModel` around a loaded hub model (universal, fine-tuned or MTP student)."""
    if isinstance(model, StudentModel):
        zs = frozenset(atomic_numbers[s] for s in model.mtp.elements)
        return EvalModel(name or model.name or "student", "student", state_digest(model), model=model,
                         elements=zs, info={"cutoff_A": model.mtp.cutoff})
    heads = tuple(model.config.fidelities)
    return EvalModel(name or getattr(model, "name", "") or "model", "universal", state_digest(model),
                     model=model, heads=heads, info={"heads": list(heads)})


def resolve_models(models: Iterable) -> tuple[list[EvalModel], list[str]]:
    """Models from names, paths, loaded hub models or peer names; peers that are not installed are skipped.

    Returns the models and one message per skipped model.
    """
    out: list[EvalModel] = []
    skipped: list[str] = []
    for m in models:
        if isinstance(m, EvalModel):
            out.append(m)
        elif isinstance(m, str) and m.strip().lower() in peers.PEERS:
            key = m.strip().lower()
            if not peers.peer_available(key):
                skipped.append(f"peer {key!r} is not installed: skipped ({peers.INSTALL_HINT})")
                continue
            info = peers.peer_info(key)
            out.append(EvalModel(key, "peer", f"{info['model_revision']}@{info['checkpoint_sha256'][:12]}",
                                 peer=key, info={"package_version": info["package_version"],
                                                 "training_data": info["training_data"]}))
        elif isinstance(m, str) or hasattr(m, "__fspath__"):
            loaded = load_model(m)
            is_path = Path(m).expanduser().exists()  # a folder is named by its model, a registry entry by its name
            out.append(wrap_hub_model(loaded, name=(getattr(loaded, "name", "") or Path(m).name) if is_path else m))
        else:
            out.append(wrap_hub_model(m))
    names = [m.name for m in out]
    for i, m in enumerate(out):  # two folders with one name must stay apart in every table
        if names.count(m.name) > 1:
            m.name = f"{m.name}#{i}"
    return out, skipped


@dataclass
class Attempt:
    """The outcome of one model call on one structure: a value, or the error that replaced it."""

    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt(fn: Callable, *args, **kwargs) -> Attempt:
    """Run ``fn``; any exception becomes a recorded failure (type, message, last frame), never a crash."""
    t = time.perf_counter()
    try:
        return Attempt(fn(*args, **kwargs), None, time.perf_counter() - t)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing model is a result
        where = traceback.extract_tb(exc.__traceback__)[-1]
        msg = f"{type(exc).__name__}: {exc}"[:300] + f" ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return Attempt(None, msg, time.perf_counter() - t)
