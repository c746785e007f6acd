"""Unit conversions applied at the door: every reader hands back eV, Å, eV/Å and eV/Å³ (ASE sign)."""

from __future__ import annotations

import numpy as np
from ase.units import GPa

from unihub.foundation.errors import InputError

from .frame import voigt6_to_3x3

#: eV/Å³ -> GPa, from ASE's constants (the one definition every package uses).
EV_A3_TO_GPA = 1.0 / GPa
#: Multiply a stress in the key's unit by this to get eV/Å³ (ASE's constants, so round trips match ASE).
STRESS_TO_EV_A3 = {"eV/A^3": 1.0, "GPa": GPa, "kbar": 0.1 * GPa, "bar": 1e-4 * GPa}
_ALIASES = {"ev/a3": "eV/A^3", "ev/a^3": "eV/A^3", "ev/å³": "eV/A^3", "kb": "kbar", "kbar": "kbar",
            "gpa": "GPa", "bar": "bar"}
SIGNS = ("ase", "pressure_positive")


def stress_unit(name: str) -> str:
    """Canonical stress unit name; refuses anything it cannot convert."""
    key = _ALIASES.get(str(name).strip().lower(), name)
    if key not in STRESS_TO_EV_A3:
        raise InputError(f"unknown stress unit {name!r}; use one of {sorted(STRESS_TO_EV_A3)}")
    return key


def stress_to_ase(values, unit: str = "eV/A^3", sign: str = "ase",
                  voigt_order: str = "xx yy zz yz xz xy") -> np.ndarray:
    """A 3x3 stress in eV/Å³ with ASE's sign (tension positive).

    ``values`` is a 3x3, 9 numbers (row-major) or 6 numbers in ``voigt_order``.
    ``sign='pressure_positive'`` is VASP/LAMMPS's convention (compression positive), flipped here.
    """
    if sign not in SIGNS:
        raise InputError(f"unknown stress sign {sign!r}; use one of {SIGNS}")
    s = np.asarray(values, dtype=float)
    if s.size == 6:
        s = voigt6_to_3x3(s, voigt_order)
    elif s.size == 9:
        s = s.reshape(3, 3)
    else:
        raise InputError(f"stress must have 6 or 9 components, got {s.size}")
    factor = STRESS_TO_EV_A3[stress_unit(unit)]
    return s * (-factor if sign == "pressure_positive" else factor)
