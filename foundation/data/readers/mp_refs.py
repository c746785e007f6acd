"""Materials Project elemental reference entries (pymatgen ComputedEntry dicts keyed by element)."""

from __future__ import annotations

from pathlib import Path

from ._common import load_json


def mp_elemental_energies(path: Path) -> dict[str, float]:
    """{element: eV/atom} of the lowest-energy MP unary per element: (energy + correction) / atoms.

    The file has no structures, so this is not a frame reader. Corrections are zero for every entry
    of the 2023-02-07 file; they are added anyway so that another vintage stays consistent with MP.
    """
    out = {}
    for element, entry in load_json(path).items():
        natoms = sum(entry["composition"].values())
        out[element] = (entry["energy"] + entry.get("correction", 0.0)) / natoms
    return out
