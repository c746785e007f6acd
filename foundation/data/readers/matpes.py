"""matcalc elemental references: MatPES documents (E, F, stress) and MP-PBE polymorph lists (E/atom only)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from unihub.foundation.errors import InputError

from ..frame import Frame
from ..units import stress_to_ase
from ._common import load_json, pymatgen_arrays

_FIDELITY = {"PBE": "pbe", "r2SCAN": "r2scan", "PBEsol": "pbesol", "RPBE": "rpbe"}


def read_matpes_refs(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of one ``*-Element-Refs.json.gz`` (a dict keyed by element).

    MatPES documents carry total energy, forces and a 6-component stress in kbar with VASP's sign
    (converted here, component order ``voigt_order``); the fidelity is read from each document's
    ``functional``. MP-PBE entries are ``{structure: [...], energy_per_atom: [...]}``: energy only,
    made total by multiplying by the atom count. ``exclude_elements`` drops elements entirely.
    """
    order = options.get("voigt_order", "xx yy zz yz xz xy")
    exclude = set(options.get("exclude_elements", ()))
    for element, doc in load_json(path).items():
        if element in exclude:
            continue
        if isinstance(doc.get("structure"), list):
            for i, (struct, e_atom) in enumerate(zip(doc["structure"], doc["energy_per_atom"], strict=True)):
                numbers, positions, cell, pbc = pymatgen_arrays(struct)
                yield Frame(numbers, positions, cell, pbc, energy=e_atom * len(numbers),
                            fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
                            group=f"{element}/mp-{i}", info={"energy_per_atom": e_atom})
            continue
        numbers, positions, cell, pbc = pymatgen_arrays(doc["structure"])
        functional = doc.get("functional")
        if functional not in _FIDELITY:
            raise InputError(f"{path}: {element} has functional {functional!r}; known: {sorted(_FIDELITY)}")
        info = {k: doc[k] for k in ("matpes_id", "energy_atomic", "cohesive_energy_per_atom", "bandgap",
                                    "functional") if k in doc}
        stress = doc.get("stress")
        yield Frame(
            numbers, positions, cell, pbc, energy=doc["energy"], forces=doc.get("forces"),
            stress=None if stress is None else stress_to_ase(stress, "kbar", "pressure_positive", order),
            fidelity=_FIDELITY[functional], dataset=options.get("dataset", ""),
            # PBE and r2SCAN documents of an element share one structure: keep them in one split
            group=f"{element}/matpes", info=info,
        )
