"""ASE trajectories (``.traj``): raw (unconstrained) forces, the FixAtoms mask kept in ``info['fixed']``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase.constraints import FixAtoms
from ase.io.trajectory import TrajectoryReader

from ..frame import Frame
from ..units import stress_to_ase


def read_ase_traj(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of one trajectory; the group is the file stem, so a relaxation never straddles splits.

    ``atoms.get_forces()`` would zero the forces on fixed atoms; the stored calculator results hold
    the DFT forces on every atom, which is what a potential must learn. Option ``energy_key``
    picks ``energy`` (default) or ``free_energy``.
    """
    ekey = options.get("energy_key", "energy")
    with TrajectoryReader(str(path)) as traj:
        for i, atoms in enumerate(traj):
            results = dict(atoms.calc.results) if atoms.calc is not None else {}
            fixed = np.zeros(len(atoms), dtype=bool)
            for c in atoms.constraints:
                if isinstance(c, FixAtoms):
                    fixed[c.index] = True
            info = {"step": i, "fixed": fixed}
            info.update({k: v for k, v in results.items() if k in ("energy", "free_energy") and k != ekey})
            stress = results.get("stress")
            yield Frame(
                atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc,
                energy=results.get(ekey), forces=results.get("forces"),
                stress=None if stress is None else stress_to_ase(stress),
                fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
                group=options.get("group") or path.stem, info=info,
            )
