"""Pieces several readers share: gz-aware JSON, structure dicts (pymatgen, JARVIS) to arrays."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
from ase.data import atomic_numbers
from ase.formula import Formula
from ase.symbols import Symbols

from unihub.foundation.errors import InputError


def open_text(path: Path) -> IO[str]:
    """Open a text file, transparently gunzipping ``*.gz``."""
    path = Path(path)
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def load_json(path: Path) -> Any:
    """Parse a JSON (or JSON.gz) file."""
    with open_text(path) as f:
        return json.load(f)


def to_numbers(symbols) -> np.ndarray:
    """Atomic numbers for element symbols; unknown symbols are refused by name."""
    try:
        return np.array([atomic_numbers[s] for s in symbols], dtype=np.int64)
    except KeyError as err:
        raise InputError(f"unknown element symbol {err.args[0]!r}") from None


def pymatgen_arrays(struct: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, Cartesian positions, cell rows, pbc) of a pymatgen ``Structure.as_dict()``."""
    lattice = struct["lattice"]
    cell = np.asarray(lattice["matrix"], dtype=float)
    symbols = []
    for k, site in enumerate(struct["sites"]):
        species = site["species"]
        if len(species) != 1 or abs(float(species[0].get("occu", 1)) - 1) > 1e-6:
            raise InputError(f"site {k} is partially occupied ({species}); only ordered structures are supported")
        symbols.append(species[0]["element"])
    if struct["sites"] and "xyz" in struct["sites"][0]:
        positions = np.array([s["xyz"] for s in struct["sites"]], dtype=float)
    else:
        positions = np.array([s["abc"] for s in struct["sites"]], dtype=float) @ cell
    pbc = np.asarray(lattice.get("pbc", (True, True, True)), dtype=bool)
    return to_numbers(symbols), positions.reshape(-1, 3), cell, pbc


def jarvis_arrays(atoms: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, Cartesian positions, cell rows, pbc) of a JARVIS ``Atoms.to_dict()``."""
    cell = np.asarray(atoms["lattice_mat"], dtype=float)
    coords = np.asarray(atoms["coords"], dtype=float).reshape(-1, 3)
    positions = coords if atoms.get("cartesian", False) else coords @ cell
    return to_numbers(atoms["elements"]), positions, cell, np.ones(3, dtype=bool)


def cell_key(cell: np.ndarray, decimals: int = 2) -> str:
    """Short stable id of a cell, for grouping frames that share one (e.g. NVT snapshots)."""
    rounded = np.round(np.asarray(cell, dtype=float), decimals) + 0.0  # + 0.0 folds -0.0 into 0.0
    return hashlib.sha1(rounded.tobytes()).hexdigest()[:10]


def reduced_formula(numbers: np.ndarray) -> str:
    """Reduced Hill formula, e.g. 'Al2O3', used to group polymorphs and rattled copies together."""
    return Formula(Symbols(numbers).get_chemical_formula()).reduce()[0].format("hill")
