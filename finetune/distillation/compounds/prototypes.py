"""The ``prototype`` kind: common structure types decorated chemically (ionic: charge-balanced, radius
ratios suited to each site; intermetallic: metals of fitting size), scaled to bonds at the sums of radii."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.spacegroup import crystal

from unihub.foundation.neighbors import pair_distances

from .elements import (
    _POOR_METALS,
    _ROMAN,
    _STD_ANIONS,
    _ZBLOCK,
    ANION_STATES,
    ANION_WEIGHTS,
    _family,
    _oxi_string,
    _pair_ok,
    _pick,
    _pmg,
    _pool,
    cation_states,
    ionic_radius,
    metallic_radius,
)
from .geometry import _first_shell, _min_distance, _scale

if TYPE_CHECKING:  # the builders take the stream's context; the stream imports them
    from .stream import _Context


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
        i, j, d = pair_distances(atoms, 4.0)
        keep = an[i] & an[j]
        if keep.any():
            r = np.asarray(radius)
            s = max(s, float(np.max(0.85 * (r[i[keep]] + r[j[keep]]) / d[keep])))
    return _scale(atoms, s)


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
