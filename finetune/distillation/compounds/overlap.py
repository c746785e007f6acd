"""How much of a generated set shares (reduced formula, space group) with the benchmarks' structures."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence

from ase import Atoms
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from unihub.foundation.data import load_dataset

from .geometry import reduced_formula

BENCHMARKS = ("wbm_random_1000", "mattersim_ood", "mp_binary_elasticity", "alexandria_phonon")


def structure_key(atoms: Atoms, symprec: float = 0.1) -> tuple[str, int]:
    """(reduced formula, space-group number by spglib at ``symprec``; 0 when spglib fails)."""
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
