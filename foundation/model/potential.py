"""The universal potential: element + fidelity embeddings, PaiNN blocks, per-head readout.

Energy is a sum of atomic energies, each = scale · MLP(features, fidelity) + E0[fidelity, Z],
plus a ZBL pair prior. Forces and stress come from autograd of that energy, so the model
is conservative by construction.
"""

from __future__ import annotations

import torch
from ase.data import covalent_radii
from torch import nn

from unihub.foundation.calculator import UniversalCalculator
from unihub.foundation.errors import InputError, InputTypeError
from unihub.foundation.model.config import ModelConfig
from unihub.foundation.model.painn import PaiNNMessage, PaiNNUpdate
from unihub.foundation.model.radial import BesselBasis, polynomial_envelope
from unihub.foundation.model.repulsion import ZBLRepulsion
from unihub.foundation.predict import predict


class UniversalPotential(nn.Module):
    """Periodic-table-wide message-passing potential with fidelity heads."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        f = config.features
        self.element_embedding = nn.Embedding(config.max_z + 1, f)
        self.fidelity_embedding = nn.Embedding(len(config.fidelities), config.fidelity_dim)
        self.radial = BesselBasis(config.cutoff, config.n_basis, config.envelope_p)
        fv, nl = config.vector_features, config.layers
        self.messages = nn.ModuleList(PaiNNMessage(f, fv, config.n_basis) for _ in range(nl))
        self.updates = nn.ModuleList(PaiNNUpdate(f, fv, config.vector_norm_eps) for _ in range(nl))
        self.readout = nn.Sequential(nn.Linear(f + config.fidelity_dim, f), nn.SiLU(), nn.Linear(f, 1))
        self.repulsion = ZBLRepulsion(config.envelope_p) if config.zbl else None
        radii = torch.tensor(covalent_radii[: config.max_z + 1], dtype=torch.get_default_dtype())
        self.register_buffer("covalent_radii", radii, persistent=False)
        n_fid = len(config.fidelities)
        # Least-squares reference energies per (fidelity, element), fitted before training.
        self.register_buffer("reference_energies", torch.zeros(n_fid, config.max_z + 1))
        self.register_buffer("energy_scale", torch.ones(()))
        # Which elements each head saw in training; used to warn about extrapolation.
        self.register_buffer("seen_elements", torch.zeros(n_fid, config.max_z + 1, dtype=torch.bool))

    # -- heads -----------------------------------------------------------------
    def fidelity_index(self, head: str | int | None) -> int:
        """Index of a fidelity head by name (case-insensitive) or index; None → default."""
        names = self.config.fidelities
        if head is None:
            head = self.config.default_fidelity
        # bool is an int to Python: head=True would silently pick head 1
        if isinstance(head, bool) or not isinstance(head, (str, int)):
            raise InputTypeError(f"head must be a head name (one of {names}) or an index 0..{len(names) - 1}, "
                                 f"got {head!r}")
        if isinstance(head, int):
            if not 0 <= head < len(names):
                raise InputError(f"head index {head} out of range 0..{len(names) - 1}; heads are {names}")
            return head
        key = head.lower()
        if key not in names:
            raise InputError(f"unknown fidelity head {head!r}; this model has {names}")
        return names.index(key)

    # -- forward ---------------------------------------------------------------
    def atomic_energies(self, numbers, pos, cell, shifts, edge_index, batch, fidelity):
        """Per-atom energies (eV) for positions/cell that may carry autograd history."""
        src, dst = edge_index
        vec = pos[src] - pos[dst] + torch.einsum("ek,ekl->el", shifts, cell[batch[src]])
        r = torch.linalg.norm(vec, dim=-1)
        unit = vec / r.unsqueeze(-1)
        rbf = self.radial(r)
        if self.config.inner_switch is not None:
            rbf = rbf * self.inner_switch(numbers[src], numbers[dst], r).unsqueeze(-1)
        s = self.element_embedding(numbers)
        v = torch.zeros(s.shape[0], 3, self.config.vector_features, dtype=s.dtype, device=s.device)
        if not self.config.vectors:
            unit = torch.zeros_like(unit)
        for k, (msg, upd) in enumerate(zip(self.messages, self.updates)):
            s, v = msg(s, v, src, dst, rbf, unit, first=k == 0)
            s, v = upd(s, v)
        fid_atom = fidelity[batch]
        h = torch.cat([s, self.fidelity_embedding(fid_atom)], dim=-1)
        e = self.readout(h).squeeze(-1) * self.energy_scale
        e = e + self.reference_energies[fid_atom, numbers]
        if self.repulsion is not None:
            e_pair = self.repulsion(numbers[dst], numbers[src], r)
            e = e.index_add(0, dst, e_pair)
        return e

    def inner_switch(self, zi: torch.Tensor, zj: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """0 below lo·(R_i+R_j), 1 above hi·(R_i+R_j), C² in between (``config.inner_switch``)."""
        lo, hi = self.config.inner_switch
        rsum = self.covalent_radii.to(r.dtype)[zi] + self.covalent_radii.to(r.dtype)[zj]
        x = ((r - lo * rsum) / ((hi - lo) * rsum)).clamp(0.0, 1.0)
        return 1.0 - polynomial_envelope(x, self.config.envelope_p)

    def forward(self, data, forces: bool = True, stress: bool = True, create_graph: bool = False) -> dict:
        """Energies (per graph and per atom), and optionally forces and stress, for a batch.

        ``data`` is a torch-geometric ``Batch`` (or ``Data``) from ``unihub.foundation.graph``.
        Stress is (1/V) ∂E/∂ε in eV/Å³ with ASE's sign; it is NaN for non-periodic graphs.
        """
        dtype = self.reference_energies.dtype
        pos = data.pos.to(dtype)
        cell = data.cell.to(dtype)
        numbers = data.numbers
        n_graphs = cell.shape[0]
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros_like(numbers)
        fidelity = data.fidelity.reshape(-1)
        inputs = []
        if forces:
            pos = pos.requires_grad_(True)
            inputs.append(pos)
        if stress:
            eps = torch.zeros(n_graphs, 3, 3, dtype=dtype, device=pos.device, requires_grad=True)
            inputs.append(eps)
            sym = 0.5 * (eps + eps.transpose(1, 2))
            pos_s = pos + torch.einsum("nk,nkl->nl", pos, sym[batch])
            cell_s = cell + torch.bmm(cell, sym)
        else:
            pos_s, cell_s = pos, cell
        e_atom = self.atomic_energies(numbers, pos_s, cell_s, data.shifts.to(dtype), data.edge_index,
                                      batch, fidelity)
        energy = torch.zeros(n_graphs, dtype=dtype, device=pos.device).index_add(0, batch, e_atom)
        out = {"energy": energy, "energies": e_atom}
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
            grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
            if forces:
                out["forces"] = -grads[0]
            if stress:
                volume = torch.linalg.det(cell).abs()
                periodic = data.pbc.reshape(n_graphs, 3).all(dim=1)
                st = grads[-1] / volume.clamp(min=1e-12).view(-1, 1, 1)
                out["stress"] = torch.where(periodic.view(-1, 1, 1), st, torch.full_like(st, float("nan")))
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- conveniences ------------------------------------------------------------
    def calculator(self, head: str | int | None = None, device: str | None = None):
        """An ASE calculator for this model and fidelity head."""
        return UniversalCalculator(self, head=head, device=device)

    def predict(self, structures, head: str | int | None = None, **kwargs) -> list[dict]:
        """Batched energies, forces and stresses for many structures."""
        return predict(self, structures, head=head, **kwargs)
