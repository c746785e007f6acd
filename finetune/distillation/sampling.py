"""Teacher-driven sampling: rattled snapshots, MD over a temperature ladder, batched teacher labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from pymatgen.core import Element
from tqdm.auto import tqdm

from unihub.foundation.simulate import md

from .structures import min_distance

log = logging.getLogger(__name__)
# MD while sampling (teacher MD, the student's active-learning MD): a stronger Langevin coupling, the centre of
# mass left free and a quicker barostat; no explosion guard, as the samplers stop a run themselves where the
# potential leaves physical ground (``observe``)
SAMPLING_MD = {"friction": 0.02, "fixcm": False, "taup": 500.0, "guard": False, "progress": False}


def label(teacher, structures: Sequence[Atoms], head: str | None = None, max_atoms: int = 2048,
          progress: bool = False) -> list[Atoms]:
    """Copies of ``structures`` carrying the teacher's energy, forces and (periodic cells) stress.

    Evaluated with ``teacher.predict`` in batches of at most ``max_atoms`` atoms."""
    structures = list(structures)
    out: list[Atoms] = []
    chunks: list[list[Atoms]] = [[]]
    for a in structures:
        if chunks[-1] and sum(map(len, chunks[-1])) + len(a) > max_atoms:
            chunks.append([])
        chunks[-1].append(a)
    with tqdm(total=len(structures), desc="teacher labels", disable=not progress, leave=False) as bar:
        for chunk in chunks:
            for a, r in zip(chunk, teacher.predict(chunk, head=head, max_atoms=max_atoms)):
                b = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc, info=dict(a.info))
                res = {"energy": float(r["energy"]), "forces": np.asarray(r["forces"], float)}
                if r.get("stress") is not None and a.pbc.all():
                    s = np.asarray(r["stress"], float)
                    res["stress"] = s.flat[[0, 4, 8, 5, 2, 1]] if s.shape == (3, 3) else s
                b.calc = SinglePointCalculator(b, **res)
                out.append(b)
            bar.update(len(chunk))
    return out


def reduced_formula(atoms: Atoms) -> str:
    """The reduced formula in Hill order (``O4PY`` for any YPO4 cell): one key per composition."""
    return atoms.symbols.formula.reduce()[0].format("hill")


class EnergyFloor:
    """No configuration lies far below a known ground: a teacher energy per atom under the lower of two limits
    is a hole in the teacher, not physics.

    - the composition-weighted teacher energies of the elements' ground states (``ground``) minus ``tol``:
      0.1 eV/atom for one element (nothing is below its ground state), 1.0 eV/atom for compounds, whose
      formation energies may be negative;
    - the lowest teacher energy per atom of a known structure of the same reduced composition (``anchors``,
      e.g. the user's relaxed cells) minus ``tol_anchor``: an oxide lies eV/atom below its elements, and
      its own relaxed cell proves how low it goes.
    A composition with neither limit has no floor."""

    def __init__(self, ground: dict[str, float], tol_element: float = 0.1, tol_compound: float = 1.0,
                 anchors: dict[str, float] | None = None, tol_anchor: float = 0.5) -> None:
        self.ground, self.tol_element, self.tol_compound = dict(ground), tol_element, tol_compound
        self.anchors, self.tol_anchor = dict(anchors or {}), tol_anchor

    def limit(self, atoms: Atoms) -> float:
        syms = atoms.get_chemical_symbols()
        limits = []
        if all(x in self.ground for x in syms):
            tol = self.tol_element if len(set(syms)) == 1 else self.tol_compound
            limits.append(float(np.mean([self.ground[x] for x in syms])) - tol)
        anchor = self.anchors.get(reduced_formula(atoms)) if self.anchors else None
        if anchor is not None:
            limits.append(anchor - self.tol_anchor)
        return min(limits) if limits else -np.inf

    def below(self, atoms: Atoms, energy: float | None = None) -> bool:
        e = atoms.get_potential_energy() if energy is None else energy
        return e / len(atoms) < self.limit(atoms)

    def drop_holes(self, labelled: Sequence[Atoms]) -> tuple[list[Atoms], int]:
        """(the labelled configurations not below the floor, how many were dropped)."""
        kept = [a for a in labelled if not self.below(a)]
        if len(kept) < len(labelled):
            log.warning("dropped %d teacher labels below the ground-state energy floor", len(labelled) - len(kept))
        return kept, len(labelled) - len(kept)


def rattled(structures: Sequence[Atoms], rng: np.random.Generator, n: int = 2, sigma: float = 0.05,
            min_fraction: float = 0.75) -> list[Atoms]:
    """``n`` copies of each structure with Gaussian displacements (``sigma`` Å), tagged ``rattle``.

    Copies whose shortest distance fell below ``min_fraction`` of the original's are redrawn once,
    then dropped: a rattle should probe the well, not fuse atoms."""
    out = []
    for a in structures:
        d0 = min_distance(a)
        for k in range(n):
            for _ in range(2):
                b = a.copy()
                b.positions += rng.normal(0.0, sigma, b.positions.shape)
                if min_distance(b) >= min_fraction * d0:
                    b.info.update(source="rattle", name=f"{a.info.get('name', '')}~{k}")
                    out.append(b)
                    break
    return out


def ensemble_of(start: Atoms, rung: int) -> str:
    """NVT and NPT alternating up a ladder; NVT only for a cell that is not periodic or holds vacuum
    (``info["vacuum"]``, e.g. a slab): a barostat would squeeze the vacuum away."""
    return "npt" if rung % 2 and start.pbc.all() and not start.info.get("vacuum") else "nvt"


def teacher_md(teacher, starts: Sequence[Atoms], temperatures: Sequence[float], steps: int, every: int = 20,
               head: str | None = None, seed: int = 0, progress: bool = False,
               floor: EnergyFloor | None = None) -> list[Atoms]:
    """Snapshots (unlabelled) of teacher MD heating each start up the ladder (its own, if its
    ``info["temperatures"]`` holds one), NVT and NPT alternating (``ensemble_of``).

    Each start is carried from one temperature to the next, so the high rungs begin from an
    equilibrated lower one. A run stops when two atoms come closer than 0.6x the start's shortest
    distance, or its teacher energy falls below ``floor``: the teacher has left physical ground and
    its snapshots would teach nonsense."""
    snaps: list[Atoms] = []
    total = sum(len(ladder_of(s, temperatures)) for s in starts) * steps
    with tqdm(total=total, desc="teacher MD", disable=not progress, leave=False) as bar:
        for i, start in enumerate(starts):
            atoms = start.copy()
            closest = 0.6 * min_distance(start)
            calc = teacher.calculator(head=head)
            for k, T in enumerate(ladder_of(start, temperatures)):
                ensemble = ensemble_of(start, k)
                name = f"{start.info.get('name', '')}@{T:.0f}K-{ensemble}"
                ok = [True]

                def keep(a: Atoms, step: int, name=name, ensemble=ensemble, ok=ok, closest=closest) -> bool:
                    bar.update(every)
                    if min_distance(a) < closest or (floor is not None and floor.below(a)):
                        ok[0] = False
                        return False
                    b = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc)
                    b.info.update(source=f"md-{ensemble}", name=f"{name}:{step}")
                    snaps.append(b)
                    return True

                md(atoms, T, steps, ensemble, calculator=calc, loginterval=every, observe=keep,
                   seed=seed + 1000 * i + k, **SAMPLING_MD)
                if not ok[0]:
                    log.warning("teacher MD of %s stopped at %.0f K: atoms too close or energy below the floor",
                                start.info.get("name"), T)
                    break
    return snaps


def _melting_point(element: str) -> float:
    try:
        v = Element(element).melting_point
        return float(v) if v else 1500.0
    except (ValueError, TypeError, AttributeError):
        return 1500.0


def melting_point(elements: Sequence[str]) -> float:
    """Highest elemental melting point (K) among ``elements`` (pymatgen's table; 1500 K if unknown)."""
    return max(_melting_point(e) for e in elements)


# elements whose solids are molecular (O2, N2, P4, S8, halogens, noble gases): their melting points say
# nothing of the ionic or covalent compounds they form
MOLECULAR = frozenset("H He N O F Ne P S Cl Ar Br Kr I Xe Rn".split())


def composition_melting_point(atoms: Atoms) -> float:
    """Composition-weighted mean of the elemental melting points (K) of the atoms of non-molecular elements
    (``MOLECULAR``; all atoms if every one is): a rough solidus for a compound, so a Be-rich cell is not
    heated to the melting point of W, nor an oxide kept below the melting point of oxygen."""
    syms = atoms.get_chemical_symbols()
    return float(np.mean([_melting_point(e) for e in ([x for x in syms if x not in MOLECULAR] or syms)]))


FRACTIONS = (0.2, 0.5, 0.8, 1.0, 1.25)


def temperature_ladder(elements: Sequence[str], fractions: Sequence[float] = FRACTIONS) -> list[float]:
    """Temperatures as fractions of the melting point, ending above melting."""
    tm = melting_point(elements)
    return [round(f * tm) for f in fractions]


def own_ladder(atoms: Atoms, fractions: Sequence[float] = FRACTIONS) -> list[float]:
    """The ladder of one MD start: ``fractions`` of its ``composition_melting_point``."""
    tm = composition_melting_point(atoms)
    return [round(f * tm) for f in fractions]


def ladder_of(start: Atoms, temperatures: Sequence[float]) -> list[float]:
    """The temperatures an MD start runs through: its own ``info["temperatures"]`` if it carries
    them, else the shared ladder."""
    return sorted(start.info.get("temperatures", temperatures))
