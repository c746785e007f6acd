"""The ``substituted`` kind: relaxed MatterGen release compounds with elements replaced by similar ones,
the cell rescaled by the change in bond lengths."""

from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from unihub.foundation.data.datadir import data_root
from unihub.foundation.files import ChecksumError, sha256_file

from .elements import (
    _NONMETALS,
    _ZBLOCK,
    ANION_STATES,
    ELEMENTS,
    _column,
    _oxi_string,
    _period,
    _pick,
    _pool,
    assign_oxidation_states,
    cation_states,
    electronegativity,
    ionic_radius,
    metallic_radius,
)
from .geometry import _first_shell, _scale

if TYPE_CHECKING:  # the builders take the stream's context; the stream imports them
    from .stream import _Context


MATTERGEN = "structures/mattergen_release.extxyz"


@dataclass
class _Source:
    name: str
    atoms: Atoms
    states: dict[str, int] | None  # charge-balanced states, None for intermetallic or unbalanced
    bonds: tuple  # first-shell (i, j, d) at the relaxed geometry


def data_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder (``data_dir``, else ``$UNIHUB_DATA``, else the cache's), as datasets use it."""
    return data_root(data_dir)


@functools.lru_cache(maxsize=4)
def _sources(path: str) -> tuple[_Source, ...]:
    """The MatterGen release structures at ``path``, verified against the MANIFEST beside it, each reduced
    to its primitive cell when that is smaller, with oxidation states and first-shell bonds."""
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
    for k, a in enumerate(ase.io.read(p, index=":")):
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
