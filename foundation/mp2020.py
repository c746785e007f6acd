"""The Materials Project 2020 energy corrections of a structure, so raw and corrected energies convert exactly.

``raw = corrected - mp2020_correction(atoms)``: teachers and benchmark protocols on both scales use it.
"""

from __future__ import annotations

from ase import Atoms

from unihub.foundation.errors import InputError


def mp2020_correction(atoms: Atoms, energy: float = 0.0) -> float:
    """The MaterialsProject2020Compatibility correction (eV, total) pymatgen applies to an MP-style
    GGA/GGA+U computation of ``atoms``: ``raw = corrected - correction``.

    The entry carries MPRelaxSet's U values for the elements present when the most electronegative
    element is O or F (as MPRelaxSet sets them), no POTCAR check; pymatgen decides oxide, peroxide,
    superoxide and sulfide types from the structure. ``energy`` goes into the entry but the
    correction does not depend on it. Raises ``ValueError`` for a structure pymatgen refuses."""
    # pymatgen (seconds to import) only when a correction is asked for; older pymatgen releases keep
    # these in pymatgen.entries, newer ones re-export them there
    from pymatgen.core import Lattice, Structure
    from pymatgen.entries.compatibility import CompatibilityError, MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    if atoms.cell.rank < 3:
        raise InputError("mp2020_correction needs a 3D cell (pymatgen reads the anion type from the structure); "
                         "give the structure a cell, e.g. atoms.center(vacuum=10)")
    compat = MaterialsProject2020Compatibility(check_potcar=False)  # cached by pymatgen
    structure = Structure(Lattice(atoms.cell.array), atoms.get_chemical_symbols(), atoms.positions,
                          coords_are_cartesian=True)
    # the same choice pymatgen's check makes: U values keyed by the most electronegative element
    comp = structure.composition
    anion = sorted((el for el in comp.elements if comp[el] > 0), key=lambda el: el.X)[-1].symbol
    hubbards = {el.symbol: u for el in comp.elements if (u := compat.u_settings.get(anion, {}).get(el.symbol, 0))}
    entry = ComputedStructureEntry(structure, float(energy), parameters={
        "run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards, "is_hubbard": bool(hubbards)})
    try:
        compat.process_entry(entry, on_error="raise")
    except CompatibilityError as err:
        raise InputError(f"pymatgen refuses an MP2020 correction for {comp.formula}: {err}") from err
    return float(entry.correction)
