"""Element data for the generator: which elements take part, oxidation states, Shannon and metallic radii,
electronegativity, element pools, the charge balance of a composition, and the seeded draw from a list."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from itertools import product

import numpy as np
from ase.data import atomic_numbers, chemical_symbols, covalent_radii
from pymatgen.core import Element

EXCLUDED = ("He", "Ne", "Ar", "Kr", "Xe", "Rn", "Po", "At", "Fr", "Ra")
ELEMENTS = tuple(chemical_symbols[z] for z in range(1, 95) if chemical_symbols[z] not in EXCLUDED)
# anions and their charge; partner anions are drawn with these weights (the focus element is uniform)
ANION_STATES = {"O": -2, "S": -2, "Se": -2, "Te": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1, "H": -1,
                "N": -3, "P": -3, "As": -3, "Sb": -3, "C": -4, "Si": -4}
ANION_WEIGHTS = {"O": 0.30, "S": 0.10, "F": 0.09, "Cl": 0.08, "N": 0.08, "Se": 0.05, "Br": 0.05, "I": 0.05,
                 "Te": 0.04, "P": 0.04, "H": 0.04, "C": 0.03, "As": 0.02, "Sb": 0.02, "Si": 0.01}
# radii (Å, crystal-radius scale) for anions Shannon lacks, from bond lengths of LiH/NaH, SiC/TiC,
# Mg2Si, AlP, GaAs and InSb, and for the dimer anions of pyrites (FeS2, ZnO2, PtP2, PtAs2, PtSb2)
_ANION_RADII = {("H", -1): 1.20, ("C", -4): 1.45, ("Si", -4): 2.00, ("P", -3): 1.83, ("As", -3): 1.84,
                ("Sb", -3): 2.04, ("N", -3): 1.32, ("S", -1): 1.55, ("Se", -1): 1.65, ("Te", -1): 1.85,
                ("P", -2): 1.63, ("As", -2): 1.70, ("Sb", -2): 1.88, ("O", -1): 1.22}
_NONMETALS = frozenset({"H", "C", "N", "O", "F", "Cl", "Br", "I", "S", "Se", "P"})  # never plain cations
# well-established states that pymatgen's common_oxidation_states leaves out (TiN, V2O3, Cu2O, NbO2, SnO, ...)
_EXTRA_STATES = {"Ti": (3,), "V": (3, 4), "Cr": (2,), "Mn": (3,), "Ni": (3,), "Cu": (1,), "Nb": (3, 4),
                 "Mo": (3,), "Ru": (2,), "Au": (1,), "Sn": (2, 4), "Pb": (2, 4), "Sb": (3, 5),
                 "As": (3, 5), "Ge": (2, 4), "Si": (4,), "Te": (4,), "Eu": (2, 3), "Yb": (2, 3), "Sm": (2, 3),
                 "Pr": (3, 4), "Tb": (3, 4), "Ta": (3, 4), "W": (5,), "Re": (6,), "Ir": (3, 4), "Os": (4, 6),
                 "Np": (3, 4, 5), "Pu": (3, 4), "Pa": (4, 5), "U": (3, 4, 5, 6), "Tc": (4,)}
# anions each ionic type admits: chalcogenides and halides everywhere, hydrides, carbides, silicides and
# pnictides only where real compounds take the type (LiH, MgH2, CaH2; TiC, SiC, Mg2Si; TiN, GaN, GaAs, NiAs)
_STD_ANIONS = ("O", "S", "Se", "Te", "F", "Cl", "Br", "I")
_TM = frozenset(chemical_symbols[z] for z in (*range(21, 31), *range(39, 49), *range(72, 81)))
# p-block elements as cations: only their oxide/halide states (TeO2, Sb2O3, GeO2, SiO2, BN), not Te2+
_P_CATIONS = {"B": (3,), "Si": (4,), "Ge": (4,), "As": (3, 5), "Sb": (3, 5), "Te": (4,)}
_POOR_METALS = frozenset({"Al", "Ga", "In", "Tl", "Sn", "Pb", "Bi"})
_ZBLOCK = frozenset({"B", "Al", "Ga", "In", "Tl", "Si", "Ge", "Sn", "Pb", "P", "As", "Sb", "Bi", "Te"})
_ELECTROPOSITIVE = frozenset(["Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "Sc", "Y",
                              *(chemical_symbols[z] for z in (*range(57, 72), *range(89, 95)))])


@functools.cache
def _pmg(el: str):
    return Element(el)


@functools.cache
def cation_states(el: str) -> tuple[int, ...]:
    """Positive oxidation states (1..6) an element takes as a cation here: pymatgen's common ones plus
    ``_EXTRA_STATES``."""
    if el in _NONMETALS or el not in ELEMENTS:
        return ()
    if el in _P_CATIONS:
        return _P_CATIONS[el]
    states = {q for q in (*_pmg(el).common_oxidation_states, *_EXTRA_STATES.get(el, ())) if 1 <= q <= 6}
    return tuple(sorted(states))


@functools.cache
def _common(el: str) -> frozenset[int]:
    return frozenset(_pmg(el).common_oxidation_states)


@functools.cache
def electronegativity(el: str) -> float:
    x = _pmg(el).X
    return float(x) if x == x else 2.0


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
          "XI": 11, "XII": 12, "XIV": 14}


@functools.cache
def ionic_radius(el: str, q: int, cn: int = 6) -> float:
    """Shannon crystal radius (Å) of ``el`` in state ``q`` at the tabulated coordination nearest ``cn``
    (high spin where both are listed); fallbacks: pymatgen's ``ionic_radii``, a table for anions Shannon
    lacks, the nearest tabulated state, the covalent radius."""
    if (el, q) in _ANION_RADII and q < 0:
        return _ANION_RADII[(el, q)]
    table = _pmg(el).data.get("Shannon radii", {}).get(str(q))
    if table:
        best = None
        for key, spins in table.items():
            roman = key.rstrip("SQPY") if key not in _ROMAN else key
            c = _ROMAN.get(roman)
            if c is None:
                continue
            spin = spins.get("High Spin") or spins.get("") or next(iter(spins.values()))
            score = (abs(c - cn), -c)
            if best is None or score < best[0]:
                best = (score, float(spin["crystal_radius"]))
        if best is not None:
            return best[1]
    radii = {int(k): float(v) for k, v in _pmg(el).ionic_radii.items()}
    if q in radii:
        return radii[q]
    same_sign = [k for k in radii if (k > 0) == (q > 0)]
    if same_sign:
        return radii[min(same_sign, key=lambda k: abs(k - q))]
    return float(covalent_radii[atomic_numbers[el]])


# CN-12 metallic radii (Teatum, Gschneidner and Waber) of p-block elements that pymatgen lacks: its
# atomic radii for them are covalent-like and put silicides and stannides 5-10 % too short
_METALLIC_P = {"B": 0.98, "C": 0.914, "N": 0.88, "Si": 1.319, "P": 1.28, "Ge": 1.369, "As": 1.39, "Se": 1.40,
               "Sn": 1.62, "Sb": 1.59, "Te": 1.60, "Pb": 1.75, "Bi": 1.70}


@functools.cache
def metallic_radius(el: str) -> float:
    """CN-12 metallic radius (Å): pymatgen's, ``_METALLIC_P``, pymatgen's atomic radius, the covalent radius."""
    if el in _METALLIC_P:
        return _METALLIC_P[el]
    e = _pmg(el)
    for attr in ("metallic_radius", "atomic_radius"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = getattr(e, attr)
        except (AttributeError, ValueError):
            r = None
        if r is not None and float(r) > 0:
            return float(r)
    return float(covalent_radii[atomic_numbers[el]])


@functools.cache
def _pool(name: str) -> frozenset[str]:
    metals = frozenset(e for e in ELEMENTS if _pmg(e).is_metal)
    early = frozenset(chemical_symbols[z] for z in (*range(21, 27), *range(39, 45), *range(72, 77)))
    return {"M": metals, "T": _TM, "TE": early, "E": _ELECTROPOSITIVE & frozenset(ELEMENTS), "Z": _ZBLOCK,
            "MZ": metals | _ZBLOCK, "I": frozenset({"B", "C", "N"}), "G": frozenset({"B", "Al", "Si", "Ga", "Ge"}),
            "cation": frozenset(e for e in ELEMENTS if cation_states(e)),
            "anion": frozenset(ANION_STATES)}[name]


def _period(z: int) -> int:
    return int(np.searchsorted([2, 10, 18, 36, 54, 86, 118], z, side="left")) + 1


@functools.cache
def _column(el: str) -> int | None:
    return _pmg(el).group


def _family(el: str) -> str | None:
    """Rare earths, actinides, alkali and alkaline-earth metals: elements of one family mix as solid
    solutions rather than order into intermetallic compounds."""
    z = atomic_numbers[el]
    if el in ("Sc", "Y") or 57 <= z <= 71:
        return "rare earth"
    if 89 <= z <= 94:
        return "actinide"
    return {1: "alkali", 2: "alkaline earth"}.get(_column(el)) if el != "H" and el != "Be" else None


def _pair_ok(cation: str, anion: str) -> bool:
    """Whether ``anion`` is electronegative enough to be the anion of ``cation`` (PbTe and PtP2 pass;
    hydrides need electropositive cations, as in LiH, MgH2, AlH3, ZrH2)."""
    xc, xa = electronegativity(cation), electronegativity(anion)
    if anion == "H":
        return xc <= 1.65
    if anion in ("N", "C", "Si", "P", "As", "Sb") and cation not in _TM and xc >= 2.05:  # no AsN, PbC, TeC
        return False
    return xa - xc >= -0.3


def assign_oxidation_states(counts: dict[str, int]) -> dict[str, int] | None:
    """One charge-balanced state per element (the most electronegative elements anions, in
    ``ANION_STATES``; the rest cations in ``cation_states``), preferring common states; None if none."""
    els = sorted(counts, key=lambda e: (electronegativity(e), e))
    for k in range(1, len(els)):
        anions, cats = els[len(els) - k:], els[: len(els) - k]
        if any(a not in ANION_STATES for a in anions):
            break
        if any(not cation_states(c) for c in cats):
            continue
        q_total = -sum(counts[a] * ANION_STATES[a] for a in anions)
        best = None
        for combo in product(*(cation_states(c) for c in cats)):
            if sum(counts[c] * q for c, q in zip(cats, combo, strict=True)) != q_total:
                continue
            score = sum(q not in _common(c) for c, q in zip(cats, combo, strict=True))
            if best is None or score < best[0]:
                best = (score, dict(zip(cats, combo, strict=True)))
        if best is not None:
            return {**best[1], **{a: ANION_STATES[a] for a in anions}}
    return None


def _oxi_string(states: dict[str, int]) -> str:
    return " ".join(f"{e}:{q:+d}" for e, q in sorted(states.items(), key=lambda t: (t[1] < 0, t[0])))


def parse_oxidation_states(text: str) -> dict[str, int]:
    """Inverse of the ``oxidation_states`` info string: ``"Fe:+3 O:-2"`` -> ``{"Fe": 3, "O": -2}``."""
    return {e: int(q) for e, q in (t.split(":") for t in text.split())}


def _pick(rng: np.random.Generator, items: Sequence[str], weights: dict[str, float] | None = None) -> str | None:
    items = list(items)
    if not items:
        return None
    if weights is None:
        return items[int(rng.integers(len(items)))]
    p = np.array([weights.get(x, 0.01) for x in items], float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]
