"""Short-range ZBL repulsion, switched off smoothly at the sum of covalent radii.

It carries no trainable parameters: it is a physical prior that keeps atoms from fusing
in regions no training data covers.
"""

from __future__ import annotations

import torch
from ase.data import covalent_radii
from torch import nn

from unihub.foundation.model.radial import polynomial_envelope
from unihub.foundation.zbl import COEFFICIENTS, COULOMB, DECAYS, screening_length


class ZBLRepulsion(nn.Module):
    """Pair energy E(r) = k Z_i Z_j / r · φ(r/a) · envelope(r / (R_i + R_j))."""

    def __init__(self, p: int = 6) -> None:
        super().__init__()
        self.p = p
        radii = torch.tensor(covalent_radii[:119], dtype=torch.get_default_dtype())
        self.register_buffer("radii", radii, persistent=False)

    def forward(self, zi: torch.Tensor, zj: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Energy per directed edge (a full list counts each pair twice, so halve it here)."""
        zi_f = zi.to(r.dtype)
        zj_f = zj.to(r.dtype)
        x = r / screening_length(zi_f, zj_f)
        phi = sum(c * torch.exp(-d * x) for c, d in zip(COEFFICIENTS, DECAYS))
        rmax = self.radii.to(r.dtype)[zi] + self.radii.to(r.dtype)[zj]
        env = torch.where(r < rmax, polynomial_envelope(r / rmax, self.p), torch.zeros_like(r))
        return 0.5 * COULOMB * zi_f * zj_f / r * phi * env
