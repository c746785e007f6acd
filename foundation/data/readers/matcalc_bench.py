"""matcalc benchmark records (WBM, MP elasticity, Alexandria phonons): relaxed structure + target values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..frame import Frame
from ._common import load_json, pymatgen_arrays


def read_matcalc_bench(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """One frame per record; ``energy`` (eV per cell) when the record has one, every other target in ``info``.

    Option ``energy_key`` (default ``energy``; the WBM file also has ``corrected_energy``).
    """
    ekey = options.get("energy_key", "energy")
    for rec in load_json(path):
        numbers, positions, cell, pbc = pymatgen_arrays(rec["structure"])
        ident = rec.get("material_id") or rec.get("mp_id")
        info = {k: v for k, v in rec.items() if k not in ("structure", ekey)}
        yield Frame(numbers, positions, cell, pbc, energy=rec.get(ekey),
                    fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
                    group=str(ident), info=info)
