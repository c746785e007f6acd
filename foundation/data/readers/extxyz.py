"""Extended XYZ (ASE): labels from calculator results or from named info/array keys (e.g. ``REF_*``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase.io import iread

from ..frame import Frame
from ..units import stress_to_ase
from ._common import reduced_formula


def read_extxyz(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of an extxyz file.

    Options: ``energy_key``/``forces_key``/``stress_key`` (default ``energy``/``forces``/``stress``),
    ``stress_unit``/``stress_sign``/``voigt_order`` for the stored stress, ``group_by``
    (``index``, ``formula`` or an info key), ``split_key`` (info key holding a source split),
    ``drop`` (``{key: info key, values: [...]}``: frames whose info value is listed are skipped, e.g.
    trajectories of materials that a benchmark holds).
    """
    ekey = options.get("energy_key", "energy")
    fkey = options.get("forces_key", "forces")
    skey = options.get("stress_key", "stress")
    unit = options.get("stress_unit", "eV/A^3")
    sign = options.get("stress_sign", "ase")
    order = options.get("voigt_order", "xx yy zz yz xz xy")
    group_by = options.get("group_by", "index")
    split_key = options.get("split_key")
    drop = options.get("drop") or {}
    dropped = set(drop.get("values", ()))
    for i, atoms in enumerate(iread(str(path), index=":", format="extxyz")):
        if dropped and str(atoms.info.get(drop["key"])) in dropped:
            continue
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        info = dict(atoms.info)
        energy = info.pop(ekey, results.get(ekey))
        forces = atoms.arrays.get(fkey, results.get(fkey))
        stress = info.pop(skey, results.get(skey))
        if group_by == "index":
            group = f"{path.stem}/{i}"
        elif group_by == "formula":
            group = reduced_formula(atoms.numbers)
        else:
            group = str(info[group_by])
        split = info.get(split_key) if split_key else None
        info.update({k: v for k, v in results.items() if k not in (ekey, fkey, skey)})
        yield Frame(
            atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc,
            energy=energy, forces=forces,
            stress=None if stress is None else stress_to_ase(stress, unit, sign, order),
            fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
            group=group, split=split, info=info,
        )
