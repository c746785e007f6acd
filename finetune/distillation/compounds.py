"""Seeded, offline generator of realistic compounds across the periodic table, for a teacher to label.

Kinds (``KINDS``), interleaved: structures come in blocks of a base structure and one perturbed copy of it.

- ``prototype``: common prototypes (geometry from the AFLOW library pymatgen ships, plus olivine and
  ThCr2Si2 built here) decorated chemically: ionic ones with charge-balanced cations and anions of common
  oxidation states whose radius ratios suit the sites' coordination (Goldschmidt tolerance for perovskite),
  intermetallic ones with metals (size ratios where the type needs them, p-block elements on p-block sites).
- ``substituted``: relaxed MatterGen release compounds (``$UNIHUB_DATA/structures/mattergen_release.extxyz``)
  with elements replaced by similar ones (same common oxidation state and crystal radius within 20 %;
  metals by metals sharing a state, of similar size and electronegativity; p-block elements by their
  neighbours in the group), the cell rescaled by the change in bond lengths; at least one element changes.
- ``random_symmetric``: pyxtal random crystals of charge-balanced compositions in common space groups
  (skipped with a warning when pyxtal is not installed).
- perturbed copies (``PERTURBED``): ``strained`` (isotropic linear strain within ±10 %), ``sheared``
  (symmetric shear components within ±5 %), ``rattled`` (Gaussian, sigma 0.02-0.1 Å, on a supercell),
  ``vacancy`` (one atom removed from a supercell of at least 8 atoms).

Default proportions of the stream (``BASE_WEIGHTS`` x ``PERTURB_WEIGHTS``, one copy per base):
prototype 20 %, substituted 15 %, random_symmetric 15 %, rattled 20 %, strained 12.5 %, sheared 10 %,
vacancy 7.5 %.

Elements: ``ELEMENTS`` is Z = 1..94 less ``EXCLUDED`` (noble gases, Po, At, Fr, Ra: absent or nearly so
from the teachers' training data). Every structure is built around a focus element drawn uniformly from
the elements its kind can place, so every element gets a fair share; partner anions follow
``ANION_WEIGHTS`` (oxides first, as in real chemistry), each ionic type admits only the anions real
compounds put on it (hydrides, carbides, pnictides where LiH, TiC, GaAs exist), a cation must not be
more electronegative than its anion (by more than 0.3), and an intermetallic has a true (s, d, f) metal.

Volumes are a first guess: nearest-neighbour bonds at the sums of Shannon crystal radii (ionic) or of
metallic radii (intermetallic); ``volume_scan`` makes the scaled copies a teacher refines it with.
Every structure passes ``check_contacts``: no pair closer than 0.6x the sum of covalent radii.

Each structure's ``info``: ``id`` (``cmp-<args hash>-<seed>-<block>-<0 base | 1 copy>``), ``source`` (its
kind), ``prototype`` (name or ``-``), ``formula`` (reduced), ``parent`` (the base's id, itself for a base;
a base whose kind is not requested is not emitted but is rebuilt from that id's seed), and where known
``oxidation_states`` (``"Fe:+3 O:-2"``), ``strain`` (3x3), ``rattle`` (Å), ``supercell``, ``vacancy``,
``template`` (source structure of a substitution), ``space_group`` (drawn for random_symmetric).
Structure ``k`` of a stream depends only on (seed, arguments, k): a numpy Generator seeded from
(seed, block, copy) builds it, so a stream can be resumed from any id.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, product
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii
from vesin import ase_neighbor_list as neighbor_list

EXCLUDED = ("He", "Ne", "Ar", "Kr", "Xe", "Rn", "Po", "At", "Fr", "Ra")
ELEMENTS = tuple(chemical_symbols[z] for z in range(1, 95) if chemical_symbols[z] not in EXCLUDED)
BASE_KINDS = ("prototype", "substituted", "random_symmetric")
PERTURBED = ("strained", "sheared", "rattled", "vacancy")
KINDS = BASE_KINDS + PERTURBED
BASE_WEIGHTS = {"prototype": 0.4, "substituted": 0.3, "random_symmetric": 0.3}
PERTURB_WEIGHTS = {"rattled": 0.4, "strained": 0.25, "sheared": 0.2, "vacancy": 0.15}
GUARD = 0.6  # no pair closer than GUARD x (sum of covalent radii)
BENCHMARKS = ("wbm_random_1000", "mattersim_ood", "mp_binary_elasticity", "alexandria_phonon")
MATTERGEN = "structures/mattergen_release.extxyz"
_VERSION = "1"  # part of every id: bump when the same arguments would give other structures

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
_SPACEGROUPS = {225: 3, 221: 2, 227: 2, 216: 1, 194: 3, 186: 1, 191: 1, 187: 1, 166: 2, 164: 1, 167: 1,
                148: 1, 139: 2, 141: 1, 136: 1, 129: 1, 123: 1, 71: 1, 62: 4, 63: 2, 60: 1, 61: 1, 58: 1,
                14: 5, 12: 2, 15: 2, 11: 1, 2: 2}


# ---------------------------------------------------------------- element data


@functools.cache
def _pmg(el: str):
    from pymatgen.core import Element

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


# ---------------------------------------------------------------- geometry helpers


def check_contacts(atoms: Atoms, factor: float = GUARD) -> bool:
    """True when no pair (periodic images included) is closer than ``factor`` x the sum of covalent radii."""
    r = covalent_radii[atoms.numbers]
    cut = float(factor * 2 * r.max())
    i, j, d = neighbor_list("ijd", atoms, cut, self_interaction=False)
    return not np.any(d < factor * (r[i] + r[j]) - 1e-9)


def _first_shell(atoms: Atoms, cations: np.ndarray | None = None, tol: float = 1.25):
    """First-shell bonds (i, j, d) and shell sizes. With ``cations`` (bool mask): from each cation to the
    anions within ``tol`` x its nearest anion (an anion's shell: the cations bonded to it); else from
    each atom to any atom within 1.15 x its nearest."""
    dmin = float(_min_distance(atoms))
    i, j, d = neighbor_list("ijd", atoms, 3.0 * dmin, self_interaction=False)
    if cations is not None:
        keep = cations[i] & ~cations[j]
        i, j, d = i[keep], j[keep], d[keep]
    else:
        tol = 1.15
    if len(d) == 0:
        return i, j, d, np.zeros(len(atoms), int)
    nearest = np.full(len(atoms), np.inf)
    np.minimum.at(nearest, i, d)
    keep = d <= tol * nearest[i] + 1e-9
    i, j, d = i[keep], j[keep], d[keep]
    cn = np.bincount(i, minlength=len(atoms))
    if cations is not None:
        cn = cn + np.bincount(j, minlength=len(atoms))
    return i, j, d, cn


def _min_distance(atoms: Atoms) -> float:
    span = float(np.cbrt(atoms.get_volume() / len(atoms))) * 2.5
    _, d = neighbor_list("id", atoms, span, self_interaction=False)
    return float(d.min()) if len(d) else span


def _scale(atoms: Atoms, s: float) -> Atoms:
    atoms.set_cell(atoms.cell * s, scale_atoms=True)
    return atoms


def supercell(atoms: Atoms, max_atoms: int) -> tuple[Atoms, tuple[int, int, int]]:
    """The most cube-like repetition with at most ``max_atoms`` atoms, and the repetition."""
    lengths = atoms.cell.lengths()
    best, best_score = (1, 1, 1), -1.0
    for n in product(range(1, 7), repeat=3):
        if len(atoms) * n[0] * n[1] * n[2] > max_atoms:
            continue
        score = float((lengths * n).min()) + 1e-3 * n[0] * n[1] * n[2]
        if score > best_score:
            best, best_score = n, score
    out = atoms * best
    out.info = dict(atoms.info)
    return out, best


def reduced_formula(atoms: Atoms) -> str:
    """pymatgen's reduced formula (e.g. ``Fe2O3``)."""
    from pymatgen.core import Composition

    syms = atoms.get_chemical_symbols()
    return Composition({s: syms.count(s) for s in set(syms)}).reduced_formula


def _oxi_string(states: dict[str, int]) -> str:
    return " ".join(f"{e}:{q:+d}" for e, q in sorted(states.items(), key=lambda t: (t[1] < 0, t[0])))


def parse_oxidation_states(text: str) -> dict[str, int]:
    """Inverse of the ``oxidation_states`` info string: ``"Fe:+3 O:-2"`` -> ``{"Fe": 3, "O": -2}``."""
    return {e: int(q) for e, q in (t.split(":") for t in text.split())}


def volume_scan(atoms: Atoms, scales: Sequence[float] = (0.94, 0.97, 1.0, 1.03, 1.06)) -> list[Atoms]:
    """Copies of ``atoms`` scaled isotropically to ``scales`` x its volume (for the teacher to pick the
    volume from), each with ``info["volume_scale"]`` and ``parent`` = the original's id."""
    out = []
    for s in scales:
        a = atoms.copy()
        a.set_cell(atoms.cell * float(s) ** (1 / 3), scale_atoms=True)
        pid = atoms.info.get("id", "")
        a.info.update(volume_scale=float(s), parent=pid, id=f"{pid}@v{float(s):.3f}")
        out.append(a)
    return out


# ---------------------------------------------------------------- prototypes


@dataclass(frozen=True)
class Prototype:
    """A structure type: geometry source, the role of each of its elements, and what the roles admit.

    Ionic roles: upper-case cation roles (``A``, ``B``) and anion roles (``X``, ``Y``). Intermetallic
    roles name an element pool (``M`` metals, ``T`` transition metals, ``E`` electropositive, ``Z``
    p-block, ``MZ``, ``I`` interstitial B/C/N, ``G`` AlB2-network formers, ``TE`` groups 3-8)."""

    name: str
    label: str  # AFLOW label + original elements, or "built:<name>"
    roles: dict  # original element -> role
    ionic: bool
    weight: float = 1.0
    pools: dict = field(default_factory=dict)  # intermetallic role -> pool name
    sizes: tuple = ()  # (role a, role b, lo, hi): metallic radius ratio a/b within [lo, hi]
    anion_states: dict | None = None  # anion -> charge, when this type admits only these (pyrite dimers)
    role_states: dict = field(default_factory=dict)  # cation role -> {element: state}, for special sites
    dimer: bool = False  # anion-anion bonds belong to the type (no anion-anion floor)
    anions: dict = field(default_factory=dict)  # anion role -> anions it admits (default ``_STD_ANIONS``)

    def anion_options(self, role: str) -> tuple[str, ...]:
        return self.anions.get(role, _STD_ANIONS)

    def anion_charge(self, el: str) -> int:
        return (self.anion_states or ANION_STATES)[el]


_ANIONS = ("X", "Y")
PROTOTYPES: tuple[Prototype, ...] = (
    # ionic
    Prototype("rocksalt", "AB_cF8_225_a_b:Cl,Na", {"Na": "A", "Cl": "X"}, True, 3.0,
              anions={"X": (*_STD_ANIONS, "H", "N", "C", "P", "As", "Sb")}),
    Prototype("CsCl", "AB_cP2_221_b_a:Cl,Cs", {"Cs": "A", "Cl": "X"}, True, 0.7),
    Prototype("zincblende", "AB_cF8_216_c_a:S,Zn", {"Zn": "A", "S": "X"}, True, 2.0,
              anions={"X": (*_STD_ANIONS, "N", "P", "As", "Sb")}),
    Prototype("wurtzite", "AB_hP4_186_b_b:S,Zn", {"Zn": "A", "S": "X"}, True, 2.0,
              anions={"X": (*_STD_ANIONS, "N", "P", "As", "Sb")}),
    Prototype("NiAs", "AB_hP4_194_c_a:As,Ni", {"Ni": "A", "As": "X"}, True, 1.0,
              anions={"X": ("S", "Se", "Te", "N", "P", "As", "Sb")}),
    Prototype("fluorite", "AB2_cF12_225_a_c:Ca,F", {"Ca": "A", "F": "X"}, True, 2.0,
              anions={"X": (*_STD_ANIONS, "H")}),
    Prototype("antifluorite", "AB2_cF12_225_a_c:Ca,F", {"Ca": "X", "F": "A"}, True, 1.0,
              anions={"X": ("O", "S", "Se", "Te", "C", "Si")}),
    Prototype("rutile", "A2B_tP6_136_f_a:O,Ti", {"Ti": "A", "O": "X"}, True, 2.0,
              anions={"X": (*_STD_ANIONS, "H")}),
    Prototype("anatase", "A2B_tI12_141_e_a:O,Ti", {"Ti": "A", "O": "X"}, True, 1.0),
    Prototype("CdI2", "AB2_hP3_164_a_d:Cd,I", {"Cd": "A", "I": "X"}, True, 1.5),
    Prototype("MoS2", "AB2_hP6_194_c_f:Mo,S", {"Mo": "A", "S": "X"}, True, 1.0, anions={"X": ("S", "Se", "Te")}),
    Prototype("pyrite", "AB2_cP12_205_a_c:Fe,S", {"Fe": "A", "S": "X"}, True, 1.0,
              anion_states={"O": -1, "S": -1, "Se": -1, "Te": -1, "P": -2, "As": -2, "Sb": -2}, dimer=True,
              anions={"X": ("O", "S", "Se", "Te", "P", "As", "Sb")}),
    Prototype("corundum", "A2B3_hR10_167_c_e:Al,O", {"Al": "A", "O": "X"}, True, 2.0),
    Prototype("ReO3", "A3B_cP4_221_d_a:O,Re", {"Re": "A", "O": "X"}, True, 1.0, anions={"X": ("O", "F")}),
    Prototype("cuprite", "A2B_cP6_224_b_a:Cu,O", {"Cu": "A", "O": "X"}, True, 0.5,
              anions={"X": ("O", "S", "Se")}),
    Prototype("cotunnite", "A2B_oP12_62_2c_c:Cl,Pb", {"Pb": "A", "Cl": "X"}, True, 0.7,
              anions={"X": (*_STD_ANIONS, "H")}),
    Prototype("perovskite", "AB3C_cP5_221_a_c_b:Ca,O,Ti", {"Ca": "A", "Ti": "B", "O": "X"}, True, 3.0,
              anions={"X": ("O", "S", "Se", "F", "Cl", "Br", "I", "H", "N")}),
    Prototype("spinel", "A2BC4_cF56_227_d_a_e:Al,Mg,O", {"Mg": "A", "Al": "B", "O": "X"}, True, 2.0,
              anions={"X": ("O", "S", "Se", "Te", "F", "Cl")}),
    Prototype("alpha-NaFeO2", "ABC2_hR4_166_a_b_c:Cr,Na,S", {"Na": "A", "Cr": "B", "S": "X"}, True, 2.0,
              anions={"X": ("O", "S", "Se", "Te", "N")}),
    Prototype("ilmenite", "AB3C_hR10_148_c_f_c:Fe,O,Ti", {"Fe": "A", "Ti": "B", "O": "X"}, True, 1.0,
              anions={"X": ("O", "F", "Cl", "Br", "I")}),
    Prototype("olivine", "built:olivine", {"Mg": "A", "Si": "B", "O": "X"}, True, 1.0,
              anions={"X": ("O", "S", "Se")}),
    Prototype("zircon", "A4BC_tI24_141_h_b_a:O,Si,Zr", {"Zr": "A", "Si": "B", "O": "X"}, True, 1.0,
              anions={"X": ("O",)}),
    Prototype("matlockite", "ABC_tP6_129_c_a_c:Cl,F,Pb", {"Pb": "A", "F": "X", "Cl": "Y"}, True, 0.5,
              anions={"X": ("O", "F", "H"), "Y": ("Cl", "Br", "I")}),
    Prototype("calcite", "ABC3_hR10_167_a_b_e:C,Ca,O", {"Ca": "A", "C": "B", "O": "X"}, True, 0.7,
              role_states={"B": {"C": 4, "B": 3, "N": 5}}, anions={"X": ("O",)}),
    # intermetallic
    Prototype("B2", "AB_cP2_221_b_a:Cl,Cs", {"Cs": "A", "Cl": "B"}, False, 2.0, {"A": "M", "B": "MZ"},
              (("A", "B", 0.8, 1.25),)),
    Prototype("L1_0", "AB_tP2_123_a_d:Au,Cu", {"Au": "A", "Cu": "B"}, False, 1.5, {"A": "M", "B": "M"},
              (("A", "B", 0.8, 1.25),)),
    Prototype("L1_2", "AB3_cP4_221_a_c:Au,Cu", {"Au": "A", "Cu": "B"}, False, 2.0, {"A": "MZ", "B": "M"},
              (("A", "B", 0.8, 1.25),)),
    Prototype("D0_3", "AB3_cF16_225_a_bc:Bi,F", {"Bi": "A", "F": "B"}, False, 1.0, {"A": "MZ", "B": "M"},
              (("A", "B", 0.75, 1.3),)),
    Prototype("D0_19", "A3B_hP8_194_h_c:Ni,Sn", {"Ni": "A", "Sn": "B"}, False, 1.0, {"A": "M", "B": "MZ"},
              (("B", "A", 0.8, 1.3),)),
    Prototype("D0_22", "A3B_tI8_139_bd_a:Al,Ti", {"Al": "A", "Ti": "B"}, False, 1.0, {"A": "MZ", "B": "M"},
              (("B", "A", 0.8, 1.3),)),
    Prototype("A15", "A3B_cP8_223_c_a:Cr,Si", {"Cr": "A", "Si": "B"}, False, 1.5, {"A": "T", "B": "MZ"},
              (("B", "A", 0.8, 1.35),)),
    Prototype("C15", "A2B_cF24_227_d_a:Cu,Mg", {"Mg": "A", "Cu": "B"}, False, 2.0, {"A": "M", "B": "M"},
              (("A", "B", 1.1, 1.45),)),
    Prototype("C14", "AB2_hP12_194_f_ah:Mg,Zn", {"Mg": "A", "Zn": "B"}, False, 1.5, {"A": "M", "B": "M"},
              (("A", "B", 1.1, 1.45),)),
    Prototype("Heusler", "AB2C_cF16_225_a_c_b:Al,Cu,Mn", {"Cu": "A", "Mn": "B", "Al": "C"}, False, 2.0,
              {"A": "T", "B": "M", "C": "Z"}, (("A", "B", 0.75, 1.3),)),
    Prototype("half-Heusler", "ABC_cF12_216_b_c_a:Ag,As,Mg", {"Mg": "A", "As": "B", "Ag": "C"}, False, 2.0,
              {"A": "M", "B": "T", "C": "Z"}),
    Prototype("ThCr2Si2", "built:ThCr2Si2", {"Th": "A", "Cr": "B", "Si": "C"}, False, 1.5,
              {"A": "E", "B": "T", "C": "Z"}),
    Prototype("AlB2", "AB2_hP3_191_a_d:Al,B", {"Al": "A", "B": "B"}, False, 1.0, {"A": "M", "B": "G"}),
    Prototype("MoSi2", "AB2_tI6_139_a_e:Mo,Si", {"Mo": "A", "Si": "B"}, False, 0.7, {"A": "TE", "B": "Z"}),
    Prototype("WC", "AB_hP2_187_d_a:C,W", {"W": "A", "C": "B"}, False, 0.7, {"A": "TE", "B": "I"}),
)


def _built(name: str) -> Atoms:
    from ase.spacegroup import crystal

    if name == "olivine":  # forsterite Mg2SiO4, Pnma
        return crystal(["Mg", "Mg", "Si", "O", "O", "O"],
                       basis=[(0, 0, 0), (0.2774, 0.25, 0.9915), (0.0940, 0.25, 0.4262), (0.0913, 0.25, 0.7657),
                              (0.4474, 0.25, 0.2215), (0.1628, 0.0331, 0.2777)],
                       spacegroup=62, cellpar=[10.19, 5.98, 4.75, 90, 90, 90])
    if name == "ThCr2Si2":  # I4/mmm, conventional cell
        return crystal(["Th", "Cr", "Si"], basis=[(0, 0, 0), (0, 0.5, 0.25), (0, 0, 0.375)],
                       spacegroup=139, cellpar=[4.04, 4.04, 10.58, 90, 90, 90])
    raise KeyError(name)


@functools.lru_cache(maxsize=1)
def _aflow_library() -> dict[str, Atoms]:
    import importlib.util

    # the data file only: importing pymatgen.analysis.prototypes parses every table it ships (seconds)
    path = Path(importlib.util.find_spec("pymatgen").submodule_search_locations[0])
    path = path / "analysis" / "prototypes" / "aflow_prototypes.json.gz"
    with gzip.open(path, "rt") as f:
        entries = json.load(f)
    out = {}
    for e in entries:
        snl = e["snl"]
        syms = [s["species"][0]["element"] for s in snl["sites"]]
        key = f"{e['tags']['aflow']}:{','.join(sorted(set(syms)))}"
        if key not in out:
            out[key] = Atoms(syms, scaled_positions=[s["abc"] for s in snl["sites"]],
                             cell=snl["lattice"]["matrix"], pbc=True)
    return out


@dataclass
class _Template:
    atoms: Atoms  # geometry with the original elements, scaled so the shortest distance is 1
    roles: list[str]  # role per atom
    bonds: tuple  # (i, j, d) of the first shells (cation-anion for ionic types)
    cn: np.ndarray  # first-shell size per atom
    counts: dict  # role -> atoms in the cell


@functools.cache
def _template(name: str) -> _Template:
    proto = next(p for p in PROTOTYPES if p.name == name)
    if proto.label.startswith("built:"):
        atoms = _built(proto.label[6:])
    else:
        atoms = _aflow_library()[proto.label].copy()
    atoms.wrap()
    atoms.info = {}
    _scale(atoms, 1.0 / _min_distance(atoms))
    roles = [proto.roles[s] for s in atoms.get_chemical_symbols()]
    cations = np.array([r not in _ANIONS for r in roles]) if proto.ionic else None
    i, j, d, cn = _first_shell(atoms, cations)
    counts = {r: roles.count(r) for r in dict.fromkeys(roles)}
    return _Template(atoms, roles, (i, j, d), cn, counts)


def _role_cn(t: _Template, role: str) -> int:
    return int(round(float(np.mean([c for c, r in zip(t.cn, t.roles, strict=True) if r == role]))))


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


def _tetrahedral_ok(el: str, q: int, cn: int) -> bool:
    """A site of at most 4 neighbours only for ions Shannon lists at such a coordination (when it lists
    the ion at all): large ions such as Pu4+ or Ru4+ are never tetrahedral."""
    table = _pmg(el).data.get("Shannon radii", {}).get(str(q))
    if cn > 4 or not table:
        return True
    return any(_ROMAN.get(k.rstrip("SQPY") if k not in _ROMAN else k, 99) <= 5 for k in table)


def _ratio_ok(rc: float, ra: float, cn: int) -> bool:
    lo, hi = (0.15, 0.85) if cn <= 4 else (0.3, 1.35) if cn <= 6 else (0.55, 1.7) if cn <= 9 else (0.8, 2.0)
    return lo <= rc / ra <= hi


def _bond_scale(t: _Template, radius: list[float]) -> float:
    """Isotropic scale that brings the first-shell bonds to the sums of radii (least squares in log)."""
    i, j, d = t.bonds
    r = np.asarray(radius)
    return float(np.exp(np.mean(np.log((r[i] + r[j]) / d))))


def _decorate(proto: Prototype, t: _Template, assign: dict[str, str], states: dict[str, int] | None) -> Atoms:
    """The template with roles replaced by elements, scaled to bonds at the sums of radii."""
    atoms = t.atoms.copy()
    syms = [assign[r] for r in t.roles]
    atoms.set_chemical_symbols(syms)
    if states is None:
        radius = [metallic_radius(s) for s in syms]
    else:
        radius = [ionic_radius(s, states[s], int(c)) for s, c in zip(syms, t.cn, strict=True)]
    s = _bond_scale(t, radius)
    if states is not None and not proto.dimer:
        # anions do not overlap: like-charged contacts at least 0.85 x their radii
        an = np.array([states[x] < 0 for x in syms])
        i, j, d = neighbor_list("ijd", atoms, 4.0, self_interaction=False)
        keep = an[i] & an[j]
        if keep.any():
            r = np.asarray(radius)
            s = max(s, float(np.max(0.85 * (r[i[keep]] + r[j[keep]]) / d[keep])))
    return _scale(atoms, s)


def _pick(rng: np.random.Generator, items: Sequence[str], weights: dict[str, float] | None = None) -> str | None:
    items = list(items)
    if not items:
        return None
    if weights is None:
        return items[int(rng.integers(len(items)))]
    p = np.array([weights.get(x, 0.01) for x in items], float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def _ionic_prototype(proto: Prototype, rng: np.random.Generator, allowed: frozenset[str], focus: str,
                     focus_role: str) -> tuple[Atoms, dict[str, int]] | None:
    t = _template(proto.name)
    assign: dict[str, str] = {}
    states: dict[str, int] = {}
    for role in (r for r in t.counts if r in _ANIONS):
        if role == focus_role:
            el = focus
        else:
            el = _pick(rng, [a for a in proto.anion_options(role) if a in allowed and a not in assign.values()],
                       ANION_WEIGHTS)
        if el is None or el not in proto.anion_options(role) or el in assign.values():
            return None
        assign[role], states[el] = el, proto.anion_charge(el)
    q_total = -sum(t.counts[r] * states[assign[r]] for r in assign)
    cat_roles = [r for r in t.counts if r not in _ANIONS]

    def options(role: str) -> list[int]:
        special = proto.role_states.get(role)
        if role == focus_role:
            return [special[focus]] if special else list(cation_states(focus))
        if special:
            return sorted({q for e, q in special.items() if e in allowed})
        return [q for q in range(1, 7) if any(q in cation_states(e) for e in allowed)]

    sols = [c for c in product(*(options(r) for r in cat_roles))
            if sum(t.counts[r] * q for r, q in zip(cat_roles, c, strict=True)) == q_total]
    if not sols:
        return None
    combo = sols[int(rng.integers(len(sols)))]
    anion = assign["X"]
    for role, q in zip(cat_roles, combo, strict=True):
        cn = _role_cn(t, role)
        ra = ionic_radius(anion, states[anion], 6)
        if role == focus_role:
            el = focus
        else:
            special = proto.role_states.get(role)
            cands = [e for e in sorted(allowed) if e not in assign.values()
                     and ((special or {}).get(e) == q if special else q in cation_states(e))
                     and _ratio_ok(ionic_radius(e, q, cn), ra, cn) and _tetrahedral_ok(e, q, cn)
                     and all(_pair_ok(e, a) for r_, a in assign.items() if r_ in _ANIONS)]
            el = _pick(rng, cands)
        if el is None or el in assign.values() or not _ratio_ok(ionic_radius(el, q, cn), ra, cn):
            return None
        if not _tetrahedral_ok(el, q, cn):
            return None
        if not all(_pair_ok(el, a) for a in assign.values() if states[a] < 0):
            return None
        assign[role], states[el] = el, q
    if proto.name == "perovskite":  # Goldschmidt tolerance factor
        ra_, rb, rx = (ionic_radius(assign["A"], states[assign["A"]], 12),
                       ionic_radius(assign["B"], states[assign["B"]], 6), ionic_radius(anion, states[anion], 6))
        if not 0.8 <= (ra_ + rx) / (math.sqrt(2) * (rb + rx)) <= 1.06:
            return None
    return _decorate(proto, t, assign, states), states


def _metallic_prototype(proto: Prototype, rng: np.random.Generator, allowed: frozenset[str], focus: str,
                        focus_role: str) -> Atoms | None:
    t = _template(proto.name)
    assign: dict[str, str] = {}
    for role in t.counts:
        if role == focus_role:
            el = focus
        else:
            el = _pick(rng, sorted((_pool(proto.pools[role]) & allowed) - set(assign.values()) - {focus}))
        if el is None:
            return None
        assign[role] = el
    for a, b, lo, hi in proto.sizes:
        if not lo <= metallic_radius(assign[a]) / metallic_radius(assign[b]) <= hi:
            return None
    if all(e in _ZBLOCK or e in _POOR_METALS for e in assign.values()):  # Si-Sn, Ga-Sb: no intermetallic
        return None
    families = [_family(e) for e in assign.values()]
    if len({f for f in families if f}) < sum(1 for f in families if f):  # La-Nd, K-Rb: solid solutions
        return None
    return _decorate(proto, t, assign, None)


def _role_options(el: str, protos: Iterable[Prototype]) -> list[tuple[Prototype, str]]:
    out = []
    for p in protos:
        for role in _template(p.name).counts:
            if p.ionic:
                if role in _ANIONS:
                    ok = el in p.anion_options(role)
                else:
                    ok = el in p.role_states[role] if role in p.role_states else bool(cation_states(el))
            else:
                ok = el in _pool(p.pools[role])
            if ok:
                out.append((p, role))
    return out


def _build_prototype(rng: np.random.Generator, ctx: _Context) -> Atoms | None:
    focus = _pick(rng, ctx.proto_focus)
    options = [(p, r) for p, r in ctx.proto_options[focus]]
    w = np.array([p.weight for p, _ in options])
    proto, role = options[int(rng.choice(len(options), p=w / w.sum()))]
    if proto.ionic:
        got = _ionic_prototype(proto, rng, ctx.allowed, focus, role)
        if got is None:
            return None
        atoms, states = got
        atoms.info["oxidation_states"] = _oxi_string(states)
    else:
        atoms = _metallic_prototype(proto, rng, ctx.allowed, focus, role)
        if atoms is None:
            return None
    atoms.info["prototype"] = proto.name
    return atoms


# ---------------------------------------------------------------- substitution of real crystals


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


@dataclass
class _Source:
    name: str
    atoms: Atoms
    states: dict[str, int] | None  # charge-balanced states, None for intermetallic or unbalanced
    bonds: tuple  # first-shell (i, j, d) at the relaxed geometry


def data_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder (``data_dir``, else ``$UNIHUB_DATA``, else the cache's), as datasets use it."""
    from unihub.foundation.data.datadir import data_root

    return data_root(data_dir)


@functools.lru_cache(maxsize=4)
def _sources(path: str) -> tuple[_Source, ...]:
    """The MatterGen release structures at ``path``, verified against the MANIFEST beside it, each reduced
    to its primitive cell when that is smaller, with oxidation states and first-shell bonds."""
    from ase.io import read

    from unihub.foundation.files import ChecksumError, sha256_file

    p = Path(path)
    manifest = p.with_name("MANIFEST.json")
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: the 'substituted' kind needs the MatterGen release structures; "
                                "set UNIHUB_DATA to the shared data folder (CI uses ../shared/data), or leave "
                                "'substituted' out of kinds")
    if manifest.exists():
        want = json.loads(manifest.read_text()).get("sha256")
        if want and sha256_file(p) != want:
            raise ChecksumError(f"{p} does not match the sha256 in {manifest}: replace it with a verified copy")
    out = []
    for k, a in enumerate(read(p, index=":")):
        syms = a.get_chemical_symbols()
        if any(s not in ELEMENTS for s in syms):
            continue
        a = _primitive(a)
        syms = a.get_chemical_symbols()
        counts = {s: syms.count(s) for s in dict.fromkeys(syms)}
        states = assign_oxidation_states(counts)
        cations = np.array([states[s] > 0 for s in syms]) if states else None
        i, j, d, _ = _first_shell(a, cations)
        if len(d) == 0:
            continue
        a.info = {"template": f"mattergen_release[{k}]"}
        out.append(_Source(f"mattergen_release[{k}]", a, states, (i, j, d)))
    return tuple(out)


def _primitive(atoms: Atoms) -> Atoms:
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib's deprecation notice on every call
            prim = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=1e-3).find_primitive()
    except Exception:  # spglib failures leave the cell as it is
        return atoms
    if prim is None or len(prim) >= len(atoms):
        return atoms
    out = AseAtomsAdaptor.get_atoms(prim)
    out.info = {}
    return out


def _similar(el: str, state: int | None, allowed: frozenset[str]) -> list[str]:
    """Elements that can replace ``el``: same state and crystal radius within 20 % for ions; for metals,
    metals sharing a cation state, within 12 % in radius and 0.4 in electronegativity; for p-block
    elements, their neighbours in the group."""
    out = []
    if state is not None:
        r0 = ionic_radius(el, state, 6)
        for g in sorted(allowed):
            if g == el:
                continue
            ok = ANION_STATES.get(g) == state if state < 0 else state in cation_states(g)
            if ok and abs(ionic_radius(g, state, 6) / r0 - 1) <= 0.2:
                out.append(g)
        return out
    if el in _ZBLOCK or el in _NONMETALS:
        if el in _NONMETALS and el not in {"P", "Se", "S"}:
            return []
        z = atomic_numbers[el]
        for g in sorted(allowed & (_ZBLOCK | {"P", "S", "Se"})):
            if g != el and _column(g) == _column(el) and abs(_period(atomic_numbers[g]) - _period(z)) == 1:
                out.append(g)
        return out
    r0, x0 = metallic_radius(el), electronegativity(el)
    q0 = set(cation_states(el))
    for g in sorted(allowed & _pool("M")):
        if (g != el and abs(metallic_radius(g) / r0 - 1) <= 0.12 and abs(electronegativity(g) - x0) <= 0.4
                and q0 & set(cation_states(g))):
            out.append(g)
    return out


def _period(z: int) -> int:
    return int(np.searchsorted([2, 10, 18, 36, 54, 86, 118], z, side="left")) + 1


@functools.cache
def _column(el: str) -> int | None:
    return _pmg(el).group


def _build_substituted(rng: np.random.Generator, ctx: _Context) -> Atoms | None:
    index = ctx.substitution_index()
    if not index:
        return None
    focus = _pick(rng, sorted(index))
    src, target = index[focus][int(rng.integers(len(index[focus])))]
    syms0 = src.atoms.get_chemical_symbols()
    species = list(dict.fromkeys(syms0))
    mapping = {target: focus}
    spare = []  # species that could still be replaced, in case the draw replaced none
    for el in species:
        if el == target:
            continue
        cands = [g for g in _similar(el, src.states[el] if src.states else None, ctx.allowed)
                 if g not in species and g not in mapping.values()]
        must = el not in ctx.allowed
        if (must or rng.random() < 0.3) and cands:
            mapping[el] = _pick(rng, cands)
        elif must:
            return None
        elif cands:
            spare.append((el, cands))
    if all(a == b for a, b in mapping.items()):  # the source itself is no new structure: replace one more
        if not spare:
            return None
        el, cands = spare[int(rng.integers(len(spare)))]
        mapping[el] = _pick(rng, cands)
    mapping = {a: b for a, b in mapping.items() if a != b}
    atoms = src.atoms.copy()
    syms = [mapping.get(s, s) for s in syms0]
    atoms.set_chemical_symbols(syms)
    if src.states:
        states = {mapping.get(e, e): q for e, q in src.states.items()}
        old = [ionic_radius(s, src.states[s], 6) for s in syms0]
        new = [ionic_radius(s, states[s], 6) for s in syms]
        atoms.info["oxidation_states"] = _oxi_string(states)
    else:
        old = [metallic_radius(s) for s in syms0]
        new = [metallic_radius(s) for s in syms]
    i, j, _ = src.bonds
    o, n = np.asarray(old), np.asarray(new)
    _scale(atoms, float(np.exp(np.mean(np.log((n[i] + n[j]) / (o[i] + o[j]))))))
    atoms.info.update(prototype="-", template=src.name,
                      substitution=" ".join(f"{a}>{b}" for a, b in sorted(mapping.items())))
    return atoms


# ---------------------------------------------------------------- pyxtal random crystals


def have_pyxtal() -> bool:
    """Whether pyxtal (for ``random_symmetric``) is importable."""
    try:
        import pyxtal  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _space_group(number: int):
    from pyxtal.symmetry import Group

    return Group(number)


# pyxtal's pair tolerances as fractions of the mean cation-anion bond (anion-anion, cation-anion,
# cation-cation) and the packing fraction of the ions' spheres it starts from; then the floors that a
# crystal, scaled to its bonds, must keep between like charges (cations, anions): a random crystal is
# looser than a real one, so these are below the 1.0 and 1.1 bonds real ionic crystals keep
_PYXTAL_TOL = (0.8, 0.6, 0.7)
_PACKING = 0.5
_LIKE_FLOOR = (0.8, 0.9)
_MIN_PACKING = 0.4  # ions' spheres over the cell volume; real ionic crystals: 0.45 (Li2O) to 0.75 (perovskites)


@functools.cache
def _quick_crystal():
    """pyxtal's ``random_crystal`` with 3 lattices x 3 placements instead of up to 40 x 10: a composition
    that does not fit at once is cheaper to redraw than to insist on (pinned to pyxtal 1.1.5's loop)."""
    import pyxtal.symmetry
    from pyxtal.crystal import random_crystal
    from pyxtal.tolerance import Tol_matrix

    # pyxtal's Wyckoff merge calls check_images without a tolerance matrix, which then builds a default
    # one (4 ms, over half the run time) only to ignore it for the explicit tolerance it was given
    check_images, default_tm = pyxtal.symmetry.check_images, Tol_matrix(prototype="atomic")
    if not getattr(check_images, "_unihub_cached_tm", False):
        def cached(coords, species, lattice, PBC=None, tm=None, tol=None, d_factor=1.0):
            return check_images(coords, species, lattice, PBC, default_tm if tm is None else tm, tol, d_factor)

        cached._unihub_cached_tm = True
        pyxtal.symmetry.check_images = cached

    class QuickCrystal(random_crystal):
        def set_crystal(self) -> None:
            self.numattempts = 0
            for _ in range(3):
                self.set_volume()
                self.set_lattice(self.lattice0)
                for _ in range(3):
                    output = self._set_coords()
                    if output:
                        self.atom_sites = output
                        return
                self.lattice.reset_matrix()

    return QuickCrystal


def _build_random(rng: np.random.Generator, ctx: _Context) -> Atoms | None:
    from pyxtal.lattice import Lattice
    from pyxtal.tolerance import Tol_matrix

    focus = _pick(rng, ctx.random_focus)
    as_anion = focus in ANION_STATES and (not cation_states(focus) or rng.random() < 0.5)
    anion = focus if as_anion else _pick(rng, [a for a in _STD_ANIONS if a in ctx.allowed and a != focus],
                                        ANION_WEIGHTS)
    if anion is None:
        return None
    qx = -ANION_STATES[anion]
    n_cat = 1 if rng.random() < 0.5 else 2
    cats: list[str] = [] if as_anion else [focus]
    pool = sorted(e for e in ctx.allowed if cation_states(e) and e != anion and _pair_ok(e, anion))
    if not as_anion and focus not in pool:
        return None
    while len(cats) < n_cat:
        el = _pick(rng, [e for e in pool if e not in cats])
        if el is None:
            return None
        cats.append(el)
    qs = [int(rng.choice(cation_states(e))) for e in cats]
    ns = [1] * len(cats) if len(cats) == 1 else [int(x) for x in rng.integers(1, 4, len(cats))]
    q = sum(n * c for n, c in zip(ns, qs, strict=True))
    g = math.gcd(q, qx)
    ns, nx = [n * qx // g for n in ns], q // g
    per_fu = sum(ns) + nx
    zs = [z for z in (1, 2, 3, 4, 6, 8) if z * per_fu <= min(ctx.max_atoms, 24)]
    if not zs:
        return None
    z = zs[int(rng.integers(len(zs)))]
    species = [*cats, anion]
    counts = [n * z for n in (*ns, nx)]
    groups = list(_SPACEGROUPS)
    w = np.array([_SPACEGROUPS[k] for k in groups], float)
    order = rng.choice(len(groups), size=len(groups), replace=False, p=w / w.sum())
    sg = next((groups[k] for k in order if _space_group(groups[k]).check_compatible(counts)[0]), None)
    if sg is None:
        return None
    states = {**dict(zip(cats, qs, strict=True)), anion: -qx}
    r = {e: ionic_radius(e, states[e], 6) for e in species}
    bond = {c: r[c] + r[anion] for c in cats}
    tm = Tol_matrix(prototype="atomic")
    for i, a in enumerate(species):
        for b in species[i:]:
            if a == anion and b == anion:
                tm.set_tol(a, b, _PYXTAL_TOL[0] * float(np.mean(list(bond.values()))))
            elif anion in (a, b):
                tm.set_tol(a, b, _PYXTAL_TOL[1] * bond[a if b == anion else b])
            else:
                tm.set_tol(a, b, _PYXTAL_TOL[2] * 0.5 * (bond[a] + bond[b]))
    volume = sum(n * 4 / 3 * np.pi * r[e] ** 3 for e, n in zip(species, counts, strict=True)) / _PACKING
    seed = int(rng.integers(2**31))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lattice = Lattice(_space_group(sg).lattice_type, volume=volume, random_state=seed)
            crystal = _quick_crystal()(3, _space_group(sg), species, counts, lattice=lattice, tm=tm,
                                       random_state=seed)
    except Exception:  # pyxtal refuses some lattices and compositions outright
        return None
    if not crystal.valid:
        return None
    coords = np.concatenate([site.coords for site in crystal.atom_sites])
    atoms = Atoms([site.specie for site in crystal.atom_sites for _ in range(site.multiplicity)],
                  scaled_positions=coords - np.floor(coords), cell=crystal.lattice.matrix, pbc=True)
    syms = atoms.get_chemical_symbols()
    cat_mask = np.array([states[s] > 0 for s in syms])
    i, j, d, cn = _first_shell(atoms, cat_mask)
    if len(d) == 0:
        return None
    radius = np.array([ionic_radius(s, states[s], int(c)) for s, c in zip(syms, cn, strict=True)])
    _scale(atoms, float(np.exp(np.mean(np.log((radius[i] + radius[j]) / d)))))
    mean_bond = float(np.mean(radius[i] + radius[j]))
    ii, jj, dd = neighbor_list("ijd", atoms, 1.2 * mean_bond, self_interaction=False)
    same = cat_mask[ii] == cat_mask[jj]
    floor = np.where(cat_mask[ii], *_LIKE_FLOOR) * mean_bond
    if np.any(same & (dd < floor)):
        return None
    spheres = sum(4 / 3 * np.pi * x**3 for x in radius)
    if spheres / atoms.get_volume() < _MIN_PACKING:  # chains or molecules in void, not a crystal of ions
        return None
    atoms.info.update(prototype="-", space_group=int(sg), oxidation_states=_oxi_string(states))
    return atoms


# ---------------------------------------------------------------- perturbations


def _perturb(base: Atoms, kind: str, rng: np.random.Generator, max_atoms: int) -> Atoms | None:
    if kind in ("strained", "sheared"):
        if kind == "strained":
            eps = np.eye(3) * rng.uniform(-0.10, 0.10)
        else:
            off = rng.uniform(-0.05, 0.05, 3)
            eps = np.array([[0, off[2], off[1]], [off[2], 0, off[0]], [off[1], off[0], 0]])
        a = base.copy()
        a.set_cell(base.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        a.info["strain"] = eps
        return a
    a, reps = supercell(base, max_atoms)
    a.info["supercell"] = " ".join(map(str, reps))
    if kind == "rattled":
        sigma = float(rng.uniform(0.02, 0.10))
        a.positions = a.positions + rng.normal(0.0, sigma, a.positions.shape)
        a.info["rattle"] = sigma
        return a
    if kind == "vacancy":
        if len(a) < 8:
            return None
        k = int(rng.integers(len(a)))
        a.info["vacancy"] = f"{a[k].symbol}{k}"
        del a[k]
        return a
    raise ValueError(kind)


# ---------------------------------------------------------------- the generator


@dataclass
class _Context:
    allowed: frozenset[str]
    max_atoms: int
    data_dir: str | os.PathLike | None
    proto_options: dict = field(default_factory=dict)
    proto_focus: list = field(default_factory=list)
    random_focus: list = field(default_factory=list)
    _index: dict | None = None

    def __post_init__(self) -> None:
        protos = [p for p in PROTOTYPES if len(_template(p.name).atoms) <= self.max_atoms]
        for el in sorted(self.allowed, key=lambda e: atomic_numbers[e]):
            opts = _role_options(el, protos)
            if opts:
                self.proto_options[el] = opts
                self.proto_focus.append(el)
        self.random_focus = [e for e in sorted(self.allowed, key=lambda e: atomic_numbers[e])
                             if cation_states(e) or e in ANION_STATES]

    def substitution_index(self) -> dict[str, list[tuple[_Source, str]]]:
        """focus element -> (source, element it replaces) for sources of at most ``max_atoms`` atoms."""
        if self._index is None:
            path = str(data_folder(self.data_dir) / MATTERGEN)
            index: dict[str, list] = {}
            for src in _sources(path):
                if len(src.atoms) > self.max_atoms:
                    continue
                species = list(dict.fromkeys(src.atoms.get_chemical_symbols()))
                for el in species:
                    for g in _similar(el, src.states[el] if src.states else None, self.allowed):
                        if g not in species:
                            index.setdefault(g, []).append((src, el))
                    if el in self.allowed:  # the source as it is also carries its own elements
                        index.setdefault(el, []).append((src, el))
            self._index = {k: index[k] for k in sorted(index, key=lambda e: atomic_numbers[e])}
        return self._index


_BUILDERS = {"prototype": _build_prototype, "substituted": _build_substituted, "random_symmetric": _build_random}


def _check_args(n: int, elements: Sequence[str] | None, max_atoms: int,
                kinds: Sequence[str] | None) -> tuple[frozenset[str], list[str]]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if max_atoms < 2:
        raise ValueError(f"max_atoms must be at least 2 for a compound, got {max_atoms}")
    if elements is None:
        allowed = frozenset(ELEMENTS)
    else:
        bad = [e for e in elements if e not in atomic_numbers or e == "X"]
        if bad:
            raise ValueError(f"unknown element(s) {bad}: give chemical symbols such as 'Fe' or 'O'")
        out = [e for e in elements if e in EXCLUDED or atomic_numbers[e] > 94]
        if out:
            raise ValueError(f"element(s) {out} are not generated (noble gases, Po, At, Fr, Ra and Z > 94 are "
                             "absent from the teachers' data): leave them out of elements")
        allowed = frozenset(elements)
    if kinds is None:
        chosen = list(KINDS)
        if not have_pyxtal():
            warnings.warn("pyxtal is not installed: the 'random_symmetric' kind is skipped "
                          "(pip install pyxtal==1.1.5 to include it)", stacklevel=3)
            chosen.remove("random_symmetric")
    else:
        chosen = list(dict.fromkeys(kinds))
        unknown = [k for k in chosen if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}: choose from {list(KINDS)}")
        if not chosen:
            raise ValueError(f"kinds is empty: choose from {list(KINDS)}")
        if "random_symmetric" in chosen and not have_pyxtal():
            raise ImportError("the 'random_symmetric' kind needs pyxtal: pip install pyxtal==1.1.5, "
                              "or leave it out of kinds")
    return allowed, chosen


def _args_hash(allowed: frozenset[str], max_atoms: int, kinds: list[str]) -> str:
    text = json.dumps([_VERSION, sorted(allowed), max_atoms, sorted(kinds)])
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _base(seed: int, block: int, ctx: _Context, base_kinds: list[str], tries: int = 200) -> tuple[str, Atoms]:
    rng = np.random.default_rng([seed, block, 0])
    w = np.array([BASE_WEIGHTS[k] for k in base_kinds])
    for attempt in range(tries):
        if attempt % 50 == 0:  # the kind is kept through rejections, so they do not skew the proportions
            kind = base_kinds[int(rng.choice(len(base_kinds), p=w / w.sum()))]
        atoms = _BUILDERS[kind](rng, ctx)
        if atoms is not None and len(atoms) <= ctx.max_atoms and check_contacts(atoms):
            atoms.info["source"] = kind
            return kind, atoms
    raise ValueError(f"no compound could be built from elements {sorted(ctx.allowed)} with kinds {base_kinds} "
                     f"in {tries} tries: give more elements (cations and anions, or several metals)")


def generate_compounds(n: int, seed: int = 0, elements: Sequence[str] | None = None, max_atoms: int = 32,
                       kinds: Sequence[str] | None = None) -> Iterator[Atoms]:
    """``n`` compounds (see the module doc for kinds, proportions and ``info`` keys), the same for the same
    arguments on any machine. ``elements`` restricts every structure's chemistry to those elements;
    ``kinds`` (a subset of ``KINDS``) which kinds are emitted."""
    allowed, chosen = _check_args(n, elements, max_atoms, kinds)
    ctx = _Context(allowed, max_atoms, None)
    base_emit = [k for k in BASE_KINDS if k in chosen]
    base_kinds = base_emit or [k for k in BASE_KINDS if k != "random_symmetric" or have_pyxtal()]
    if "substituted" in base_kinds and not (data_folder() / MATTERGEN).exists() and not (
            kinds is not None and "substituted" in kinds):
        warnings.warn(f"{data_folder() / MATTERGEN} is missing: the 'substituted' kind is skipped (set "
                      "UNIHUB_DATA to the shared data folder to include it)", stacklevel=2)
        base_kinds.remove("substituted")
        if "substituted" in chosen:
            chosen.remove("substituted")
    if "substituted" in base_kinds and not ctx.substitution_index():
        base_kinds.remove("substituted")  # no source fits these elements and max_atoms
        if not base_kinds:
            raise ValueError(f"no MatterGen structure of <= {max_atoms} atoms can be substituted into elements "
                             f"{sorted(allowed)}: widen elements or add other kinds")
    copies = [k for k in PERTURBED if k in chosen]
    tag = _args_hash(allowed, max_atoms, chosen)
    yield from islice(_blocks(seed, ctx, base_kinds, base_emit, copies, tag), n)


def _blocks(seed: int, ctx: _Context, base_kinds: list[str], base_emit: list[str], copies: list[str], tag: str,
            start: int = 0, stop: int | None = None) -> Iterator[Atoms]:
    """The stream from block ``start`` on (each block: its base if emitted, then its copy), so a long run
    can be split or resumed at a block."""
    block = start
    while stop is None or block < stop:
        kind, base = _base(seed, block, ctx, base_kinds)
        bid = f"cmp-{tag}-{seed}-{block}-0"
        base.info.update(id=bid, parent=bid, formula=reduced_formula(base))
        if kind in base_emit:
            yield base
        if copies:
            yield _copy(seed, block, base, copies, ctx.max_atoms, f"cmp-{tag}-{seed}-{block}-1")
        block += 1


def _copy(seed: int, block: int, base: Atoms, copies: list[str], max_atoms: int, cid: str) -> Atoms:
    rng = np.random.default_rng([seed, block, 1])
    w = np.array([PERTURB_WEIGHTS[k] for k in copies])
    kind = copies[int(rng.choice(len(copies), p=w / w.sum()))]
    for _ in range(50):
        k = kind
        if k == "vacancy" and len(supercell(base, max_atoms)[0]) < 8:
            k = "rattled" if "rattled" in copies else "strained"  # too small for a vacancy
        a = _perturb(base, k, rng, max_atoms)
        if a is not None and check_contacts(a):
            a.info.update(id=cid, parent=base.info["id"], source=k, formula=reduced_formula(a))
            a.info.pop("volume_scale", None)
            return a
    # the guard rejected every draw (tight contacts): an unperturbed supercell is always allowed
    a, reps = supercell(base, max_atoms)
    a.info.update(id=cid, parent=base.info["id"], source="rattled", rattle=0.0, supercell=" ".join(map(str, reps)),
                  formula=reduced_formula(a))
    return a


# ---------------------------------------------------------------- overlap with benchmarks


def structure_key(atoms: Atoms, symprec: float = 0.1) -> tuple[str, int]:
    """(reduced formula, space-group number by spglib at ``symprec``; 0 when spglib fails)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib's deprecation notice on every call
            sg = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=symprec).get_space_group_number()
    except Exception:  # spglib gives up on some distorted cells
        sg = 0
    return reduced_formula(atoms), int(sg)


def benchmark_keys(names: Sequence[str] = BENCHMARKS, data_dir: str | os.PathLike | None = None,
                   symprec: float = 0.1) -> dict[str, set[tuple[str, int]]]:
    """{benchmark: its (reduced formula, space group) keys}, from the frames of each benchmark card."""
    from unihub.foundation.data import load_dataset

    out = {}
    for name in names:
        frames = load_dataset(name, data_dir)
        out[name] = {structure_key(Atoms(numbers=f.numbers, positions=f.positions, cell=f.cell, pbc=True), symprec)
                     for f in frames}
    return out


def benchmark_overlap(structures: Iterable[Atoms], suites: dict[str, Iterable[tuple[str, int]]],
                      symprec: float = 0.1) -> dict[str, dict[str, int]]:
    """For each suite (name -> (reduced formula, space group) pairs, e.g. from ``benchmark_keys``): how many
    of ``structures`` share formula and space group with it (``overlap``), share the formula only
    (``formula_overlap``), how many distinct keys they hit (``keys_hit``), and the totals."""
    keys = [structure_key(a, symprec) for a in structures]
    out = {}
    for name, pairs in suites.items():
        pairs = {(str(f), int(g)) for f, g in pairs}
        formulas = {f for f, _ in pairs}
        hits = [k for k in keys if k in pairs]
        out[name] = {"overlap": len(hits), "formula_overlap": sum(f in formulas for f, _ in keys),
                     "keys_hit": len(set(hits)), "structures": len(keys), "benchmark_keys": len(pairs)}
    return out
