"""The seeded stream: blocks of a base structure and one perturbed copy, structure ``k`` depending only on
(seed, arguments, k), so a stream can be resumed from any id."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from .elements import ANION_STATES, ELEMENTS, EXCLUDED, cation_states
from .geometry import check_contacts, reduced_formula
from .perturbations import OPTIONAL, PERTURBED, _copy
from .prototypes import PROTOTYPES, _build_prototype, _role_options, _template
from .random_symmetric import _build_random, have_pyxtal
from .substitution import MATTERGEN, _build_substituted, _similar, _Source, _sources, data_folder

BASE_KINDS = ("prototype", "substituted", "random_symmetric")
KINDS = BASE_KINDS + PERTURBED  # the default stream's kinds; ``OPTIONAL`` copies only when named
BASE_WEIGHTS = {"prototype": 0.4, "substituted": 0.3, "random_symmetric": 0.3}
_VERSION = "1"  # part of every id: bump when the same arguments would give other structures


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
        unknown = [k for k in chosen if k not in KINDS + OPTIONAL]
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}: choose from {list(KINDS + OPTIONAL)}")
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


def block_of(structure_id: str) -> int:
    """The block a generated structure's id names (``cmp-<tag>-<seed>-<block>-<k>``)."""
    parts = str(structure_id).split("-")
    if len(parts) != 5 or parts[0] != "cmp" or not parts[3].isdigit():
        raise ValueError(f"{structure_id!r} is not the id of a generated compound (cmp-<tag>-<seed>-<block>-<k>)")
    return int(parts[3])


def generate_compounds(n: int, seed: int = 0, elements: Sequence[str] | None = None, max_atoms: int = 32,
                       kinds: Sequence[str] | None = None, start_block: int = 0) -> Iterator[Atoms]:
    """``n`` compounds (see the module doc for kinds, proportions and ``info`` keys), the same for the same
    arguments on any machine. ``elements`` restricts every structure's chemistry to those elements;
    ``kinds`` (a subset of ``KINDS``) which kinds are emitted. ``start_block`` skips the blocks before it
    without building them (the rest of the same ``n`` structures: a resumed run starts where it stopped)."""
    if start_block < 0:
        raise ValueError(f"start_block must be >= 0, got {start_block}")
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
    copies = [k for k in PERTURBED + OPTIONAL if k in chosen]
    tag = _args_hash(allowed, max_atoms, chosen)
    per_block = int(bool(base_emit)) + int(bool(copies))
    yield from islice(_blocks(seed, ctx, base_kinds, base_emit, copies, tag, start=start_block),
                      max(n - start_block * per_block, 0))


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
