"""ASE calculator over any ``UniversalPotential``-like model (also takes pymatgen structures)."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from unihub.foundation.graph import as_ase, atoms_to_graph, collate
from unihub.foundation.predict import warn_unseen


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
        warn_unseen(self.model, self.fidelity, atoms.numbers, self._warned, stacklevel=4)
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
