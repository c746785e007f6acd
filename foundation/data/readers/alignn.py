"""ALIGNN-FF ``id_prop.json``: JARVIS Atoms with per-atom ``total_energy``, forces and 6 stresses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..frame import Frame
from ..units import stress_to_ase
from ._common import cell_key, jarvis_arrays, load_json


def read_alignn_id_prop(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of an id_prop file; energies are turned from eV/atom into eV per cell.

    Options: ``max_entries`` (int, or ``{element: int}`` keyed by the folder name; entries past it
    are dropped, see the mlearn card), ``energy_per_atom`` (default true), ``stress_unit`` (kbar),
    ``stress_sign`` (pressure_positive), ``voigt_order``, ``split``.
    ALIGNN stores no trajectory labels, so frames are grouped by (atom count, cell): NVT snapshots
    of one run share both.
    """
    entries = load_json(path)
    key = path.parent.name
    limit = options.get("max_entries")
    if isinstance(limit, Mapping):
        limit = limit.get(key)
    per_atom = options.get("energy_per_atom", True)
    unit = options.get("stress_unit", "kbar")
    sign = options.get("stress_sign", "pressure_positive")
    order = options.get("voigt_order", "xx yy zz xy xz yz")
    for e in entries[:limit]:
        numbers, positions, cell, pbc = jarvis_arrays(e["atoms"])
        energy = e.get("total_energy")
        if energy is not None and per_atom:
            energy = energy * len(numbers)
        stress = e.get("stresses")
        yield Frame(
            numbers, positions, cell, pbc, energy=energy, forces=e.get("forces"),
            stress=None if stress is None else stress_to_ase(stress, unit, sign, order),
            fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
            group=f"{key}/alignn/n{len(numbers)}/{cell_key(cell)}",
            split=options.get("split"), info={"jid": e.get("jid")},
        )
