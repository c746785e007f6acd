"""ASE calculator over any ``UniversalPotential``-like model (also takes pymatgen structures)."""

from __future__ import annotations

import warnings

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from unihub.foundation.graph import as_ase, atoms_to_graph, collate


class UniversalCalculator(Calculator):
    """Energy, free energy, forces, stress (eV/Å³, ASE sign) and per-atom energies."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model, head: str | int | None = None, device: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.fidelity = model.fidelity_index(head)
        self.head = model.config.fidelities[self.fidelity]
        self._warned: set[int] = set()

    def get_property(self, name, atoms=None, allow_calculation=True):
        # ASE only knows Atoms; convert pymatgen objects at the door.
        return super().get_property(name, None if atoms is None else as_ase(atoms), allow_calculation)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(as_ase(atoms) if atoms is not None else None, properties, system_changes)
        atoms = self.atoms
        self._warn_unseen(atoms.numbers)
        device = self.model.reference_energies.device
        graph = collate([atoms_to_graph(atoms, self.model.config.cutoff, self.fidelity)]).to(device)
        want_stress = bool(atoms.pbc.all())
        out = self.model(graph, forces=True, stress=want_stress)
        energy = float(out["energy"].detach().double().item())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["energies"].detach().double().cpu().numpy(),
            "forces": out["forces"].detach().double().cpu().numpy(),
        }
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].detach().double().cpu().numpy())

    def _warn_unseen(self, numbers: np.ndarray) -> None:
        seen = self.model.seen_elements[self.fidelity].cpu().numpy()
        if not seen.any():
            return  # untrained model: nothing to compare against
        unseen = sorted(set(int(z) for z in np.unique(numbers) if not seen[z]) - self._warned)
        if unseen:
            from ase.data import chemical_symbols

            self._warned.update(unseen)
            warnings.warn(
                f"elements {[chemical_symbols[z] for z in unseen]} had no training data for head "
                f"{self.head!r}; predictions for them are extrapolations",
                stacklevel=3,
            )


