"""Batched inference over many structures."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import numpy as np
from ase.data import chemical_symbols

from unihub.foundation.graph import as_ase_list, atoms_to_graph, collate


def _chunks(graphs: Iterable, max_atoms: int) -> Iterator[list]:
    chunk, n = [], 0
    for g in graphs:
        if chunk and n + g.num_nodes > max_atoms:
            yield chunk
            chunk, n = [], 0
        chunk.append(g)
        n += g.num_nodes
    if chunk:
        yield chunk


def predict(
    model,
    structures,
    head: str | int | None = None,
    max_atoms: int = 4096,
    forces: bool = True,
    stress: bool = True,
) -> list[dict]:
    """Energy (eV), per-atom energies, forces (eV/Å), stress (3x3 eV/Å³, ASE sign) per structure.

    Structures (ASE ``Atoms`` or pymatgen) are packed into batches of at most ``max_atoms``.
    Stress is returned only for fully periodic structures.
    """
    fid = model.fidelity_index(head)
    device = model.reference_energies.device
    cutoff = model.config.cutoff
    atoms_list = as_ase_list(structures)
    if atoms_list:
        warn_unseen(model, fid, np.concatenate([a.numbers for a in atoms_list]))
    graphs = (atoms_to_graph(a, cutoff, fid) for a in atoms_list)
    results: list[dict] = []
    model.eval()
    for chunk in _chunks(graphs, max_atoms):
        batch = collate(chunk).to(device)
        out = model(batch, forces=forces, stress=stress)
        ptr = batch.ptr.cpu().numpy()
        for k in range(len(chunk)):
            a, b = ptr[k], ptr[k + 1]
            r = {
                "energy": float(out["energy"][k].detach()),
                "energies": out["energies"][a:b].detach().double().cpu().numpy(),
            }
            if forces:
                r["forces"] = out["forces"][a:b].detach().double().cpu().numpy()
            if stress:
                st = out["stress"][k].detach().double().cpu().numpy()
                if np.isfinite(st).all():
                    r["stress"] = st
            results.append(r)
    return results


def warn_unseen(model, fidelity: int, numbers: np.ndarray, already: set[int] | None = None,
                stacklevel: int = 3) -> None:
    """Warn (once per element in ``already``) about elements head ``fidelity`` had no training data for."""
    seen = model.seen_elements[fidelity].cpu().numpy()
    if not seen.any():
        return  # an untrained model: nothing to compare against
    # Z outside the table is not ours to judge here: the structure check refuses it with its own message
    unseen = sorted({int(z) for z in np.unique(numbers) if 0 < z < len(seen) and not seen[z]} - (already or set()))
    if unseen:
        if already is not None:
            already.update(unseen)
        head = model.config.fidelities[fidelity]
        warnings.warn(f"elements {[chemical_symbols[z] for z in unseen]} had no training data for head {head!r}; "
                      "predictions for them are extrapolations", stacklevel=stacklevel)
