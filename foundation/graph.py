"""Atoms → graphs: neighbour lists (vesin) packed into torch-geometric ``Data``/``Batch``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Batch, Data

from unihub.foundation.errors import InputTypeError
from unihub.foundation.neighbors import neighbor_list
from unihub.foundation.validate import check_distances, check_structure


def to_graph(
    numbers,
    positions,
    cell,
    pbc,
    cutoff: float,
    fidelity: int = 0,
    check: bool = True,
) -> Data:
    """One structure as a graph. Edges point from neighbour j (source) to centre i (target)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    if check:
        check_structure(numbers, positions, cell, pbc)
    i, j, s, d = neighbor_list(positions, cell, pbc, cutoff)
    if check:
        check_distances(i, j, d)
    return Data(
        numbers=torch.from_numpy(numbers),
        pos=torch.from_numpy(positions),
        cell=torch.from_numpy(cell).unsqueeze(0),
        pbc=torch.from_numpy(pbc).unsqueeze(0),
        edge_index=torch.from_numpy(np.stack([j, i])),
        shifts=torch.from_numpy(s.astype(np.float64)),
        fidelity=torch.tensor([int(fidelity)]),
        num_nodes=len(numbers),
    )


def atoms_to_graph(atoms, cutoff: float, fidelity: int = 0, check: bool = True) -> Data:
    """An ASE ``Atoms`` or pymatgen ``Structure``/``Molecule`` as a graph."""
    atoms = as_ase(atoms)
    return to_graph(atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc, cutoff, fidelity, check)


def as_ase(obj):
    """Accept ASE ``Atoms`` or pymatgen ``Structure``/``Molecule``; return ASE ``Atoms``."""
    if isinstance(obj, Atoms):
        return obj
    mod = type(obj).__module__
    if mod.startswith("pymatgen"):
        # pymatgen (about a second to import) only for pymatgen inputs
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_atoms(obj)
    is_path = isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__")
    hint = "; read the file first, e.g. ase.io.read(path)" if is_path else ""
    raise InputTypeError(f"expected ase.Atoms or a pymatgen Structure/Molecule, got {type(obj).__name__}{hint}")


def as_ase_list(structures) -> list:
    """One structure or an iterable of them (ASE or pymatgen) as a list of ASE ``Atoms``."""
    if hasattr(structures, "positions") or hasattr(structures, "lattice") or hasattr(structures, "sites"):
        structures = [structures]  # one structure: iterating it would yield atoms, not structures
    elif isinstance(structures, (str, bytes)) or hasattr(structures, "__fspath__") or \
            not hasattr(structures, "__iter__"):
        structures = [structures]  # as_ase refuses it by type (a path: with the hint to read the file first)
    return [as_ase(s) for s in structures]


def collate(graphs: Sequence[Data]) -> Batch:
    """Batch graphs; edge indices are offset by torch-geometric."""
    return Batch.from_data_list(list(graphs))
