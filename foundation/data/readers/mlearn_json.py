"""maml / mlearn records: a JSON list of ``{structure, outputs: {energy, forces, stress|virial_stress}}``.

Used by the NbMoTaW (maml) and mlearn sets. Stresses are 6 numbers in kbar, pressure-positive,
with a shear order that differs between sets (and, in mlearn, between elements), so the order is
an option, optionally keyed by element.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from unihub.foundation.errors import InputError

from ..frame import Frame
from ..units import stress_to_ase
from ._common import load_json, pymatgen_arrays

_SNAPSHOT = re.compile(r"^Snapshot \d+ of \d+ of ")
_STRAIN = re.compile(r",\s*strain\s+[-+\d.eE]+$")


def read_mlearn_json(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of one records file.

    Options: ``stress_unit`` (kbar), ``stress_sign`` (pressure_positive), ``voigt_order`` (a string,
    or ``{element or 'default': order}``). The source split comes from the records' own tags
    (``tag: test`` / ``tags: [test]``); everything else is the source's training set.
    """
    unit = options.get("stress_unit", "kbar")
    sign = options.get("stress_sign", "pressure_positive")
    orders = options.get("voigt_order", "xx yy zz yz xz xy")
    for i, rec in enumerate(load_json(path)):
        numbers, positions, cell, pbc = pymatgen_arrays(rec["structure"])
        out = rec["outputs"]
        element = rec.get("element") or path.parent.name
        order = orders if isinstance(orders, str) else orders.get(element, orders.get("default"))
        if order is None:
            raise InputError(f"{path}: no voigt_order for element {element!r} in {orders}")
        stress = out.get("stress", out.get("virial_stress"))
        tags = rec.get("tags") or [rec.get("tag")]
        tags = [tags] if isinstance(tags, str) else tags  # Mo_Surface.json stores a bare string
        yield Frame(
            numbers, positions, cell, pbc,
            energy=out.get("energy"), forces=out.get("forces"),
            stress=None if stress is None else stress_to_ase(stress, unit, sign, order),
            fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
            group=_group(rec, path.stem, element, i),
            split="test" if "test" in tags else "train",
            info={k: rec[k] for k in ("description", "group", "notes", "tags", "tag", "_id") if k in rec},
        )


def _group(rec: Mapping, stem: str, element: str, index: int) -> str:
    """The trajectory / strain series / SQS a record belongs to, from its free-text labels."""
    if "description" in rec:  # mlearn: 'Snapshot 3 of 20 of Vacancy AIMD NVT ...', '... mode 4, strain 0.01'
        desc = _SNAPSHOT.sub("", rec["description"])
        return f"{element}/{_STRAIN.sub('', desc)}"
    notes = rec.get("notes")
    if isinstance(notes, Mapping) and notes:
        key, value = next(iter(notes.items()))
        value = str(value)
        if key in ("relax", "unrelax"):  # relaxed and unrelaxed copies of SQS number <value>
            return f"{stem}/sqs-{value}"
        if key.startswith("Strain"):  # '<mode>--<strain>'
            return f"{stem}/strain-mode-{value.split('-')[0]}"
        if key == "Md":  # '<temperature>-<snapshot>' from one AIMD run per temperature and cell
            tag = (rec.get("tags") or ["Md"])[0]
            return f"{stem}/{tag}/{value.rsplit('-', 1)[0]}"
        return f"{stem}/{key}-{value}"
    return f"{stem}/{rec.get('_id', index)}"
