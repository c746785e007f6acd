"""ASE databases (``.db``): one frame per row, stored (unconstrained) energy/forces/stress."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ase.db
import numpy as np

from ..frame import Frame
from ..units import stress_to_ase


def read_ase_db(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of an ASE database.

    Options: ``selection`` (ASE query string), ``group_key`` (key_value_pairs key naming the
    structure/trajectory; default: one group per row), ``split_key``, ``fidelity_key``.
    """
    group_key, split_key = options.get("group_key"), options.get("split_key")
    fid_key = options.get("fidelity_key")
    default_fidelity = options.get("fidelity", "pbe")
    db = ase.db.connect(str(path))
    for row in db.select(options.get("selection")):
        kvp = dict(row.key_value_pairs)
        stress = row.get("stress")
        yield Frame(
            row.numbers, row.positions, np.asarray(row.cell), row.pbc,
            energy=row.get("energy"), forces=row.get("forces"),
            stress=None if stress is None else stress_to_ase(stress),
            fidelity=str(kvp.get(fid_key, default_fidelity)) if fid_key else default_fidelity,
            dataset=options.get("dataset", ""),
            group=str(kvp[group_key]) if group_key else f"{path.stem}/{row.id}",
            split=kvp.get(split_key) if split_key else None,
            info={"row_id": row.id, **kvp},
        )
