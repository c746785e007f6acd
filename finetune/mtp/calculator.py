"""ASE calculator over the compiled MTP kernel."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import atomic_numbers

from .kernel import Kernel
from .mtpfile import MTPParams
from .neighbors import VerletList


def type_map(params: MTPParams) -> dict[int, int]:
    """Atomic number -> MTP species index, from the potential's element list."""
    if not params.elements:
        raise ValueError("the potential does not name its elements; pass elements=[...] when loading it")
    return {atomic_numbers[s]: k for k, s in enumerate(params.elements)}


class MTPCalculator(Calculator):
    """Energy, forces, stress (and per-atom energies) of a trained MTP.

    Neighbour lists are kept with a Verlet skin and reused while atoms move less than skin/2. ``core``
    (``core.CoreRepulsion``), when given, is added and floors the radial functions.
    """

    implemented_properties = ("energy", "free_energy", "energies", "forces", "stress")

    def __init__(self, params: MTPParams, skin: float = 0.5, threads: int | None = None, core=None, **kw):
        super().__init__(**kw)
        self.params, self.core = params, core
        self.kernel = Kernel(params)
        if core is not None:
            self.kernel.set_floor(core.r_out, core.floor_width)
        self.types_of = type_map(params)
        self.nlist = VerletList(params.max_dist, skin)
        self.threads = threads

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        try:
            types = np.array([self.types_of[int(z)] for z in a.numbers], dtype=np.int32)
        except KeyError as e:
            raise ValueError(f"element Z={e.args[0]} is not in this MTP (elements {self.params.elements})") from None
        off, j, rv = self.nlist.update(a.positions, np.asarray(a.cell), a.pbc)
        e, f, w = self.kernel.compute(types, off, j, rv, threads=self.threads)
        if self.core is not None:
            ec, fc, sc = self.core.compute(a)
            e = e + ec
            f = f + fc
            if sc is not None:
                w = w + sc * a.get_volume()
        self.results["energies"] = e
        self.results["energy"] = self.results["free_energy"] = float(e.sum())
        self.results["forces"] = f
        if np.all(a.pbc):
            s = 0.5 * (w + w.T) / a.get_volume()
            self.results["stress"] = s.flat[[0, 4, 8, 5, 2, 1]]
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a structure periodic in all three directions")
