"""Radial features: a Bessel basis under a polynomial envelope that is C² at the cutoff."""

from __future__ import annotations

import math

import torch
from torch import nn


def polynomial_envelope(x: torch.Tensor, p: int = 6) -> torch.Tensor:
    """1 at x=0, and value, slope and curvature all 0 at x=1 (so forces are continuous at r_cut)."""
    x = x.clamp(max=1.0)
    env = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return env


class BesselBasis(nn.Module):
    """sin(nπr/r_c)/r times the envelope; frequencies trainable as in DimeNet/NequIP."""

    def __init__(self, cutoff: float, n_basis: int = 8, p: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = p
        self.freq = nn.Parameter(torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()) * math.pi)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = (r / self.cutoff).unsqueeze(-1)
        env = polynomial_envelope(x, self.p)
        return math.sqrt(2.0 / self.cutoff) * torch.sin(self.freq * x) / r.unsqueeze(-1) * env
