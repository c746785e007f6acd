"""JARVIS vacancy database (ALIGNN-FF ``vacancy_db.json``): bulk and defective cell per entry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..frame import Frame
from ._common import jarvis_arrays, load_json


def read_jarvis_vacancy(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Two frames per entry (``info['role']`` = 'bulk' / 'defective'), sharing the entry's jid as group.

    Energies are JARVIS OptB88vdW totals in eV per cell; ``chem_pot`` (eV/atom) and ``E_vac`` (eV),
    with E_vac = E_defective - E_bulk + chem_pot, go to ``info``. ``info['consistent']`` says whether
    the defective cell is the bulk cell minus one ``symbol`` atom; ``drop_inconsistent`` (default
    false) skips entries where it is not.
    """
    shared = ("jid", "symbol", "wycoff", "chem_pot", "E_vac", "material_type", "bulk_formula")
    drop = options.get("drop_inconsistent", False)
    for rec in load_json(path):
        expected = Counter(rec["defective_atoms"]["elements"]) + Counter({rec["symbol"]: 1})
        consistent = expected == Counter(rec["bulk_atoms"]["elements"])
        if drop and not consistent:
            continue
        common = {k: rec.get(k) for k in shared} | {"consistent": consistent}
        for role in ("bulk", "defective"):
            numbers, positions, cell, pbc = jarvis_arrays(rec[f"{role}_atoms"])
            yield Frame(numbers, positions, cell, pbc, energy=rec.get(f"{role}_energy"),
                        fidelity=options.get("fidelity", "optb88vdw"), dataset=options.get("dataset", ""),
                        group=str(rec["jid"]), info={**common, "role": role})
