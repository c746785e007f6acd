"""PaiNN-style interaction and update blocks (Schütt et al. 2021) with narrow vector channels.

Scalars carry ``features`` channels and vectors ``vector_features`` (fewer): the per-edge
vector tensors (E×3×Fv) dominate CPU time and memory, and narrow ones keep most of the
angular information at a fraction of the cost (measured in the README).
"""

from __future__ import annotations

import torch
from torch import nn


class PaiNNMessage(nn.Module):
    """Messages from neighbours j to centres i, filtered by the radial basis."""

    def __init__(self, features: int, vector_features: int, n_basis: int) -> None:
        super().__init__()
        self.f, self.fv = features, vector_features
        width = features + 2 * vector_features
        self.phi = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, width))
        # no bias: the filter must vanish with the basis at r_cut, or energy jumps there
        self.filter = nn.Linear(n_basis, width, bias=False)

    def forward(self, s, v, src, dst, rbf, unit, first: bool = False):
        x = self.phi(s)[src] * self.filter(rbf)
        ds_e, dvv, dvr = torch.split(x, [self.f, self.fv, self.fv], dim=-1)
        dv_e = unit.unsqueeze(-1) * dvr.unsqueeze(1)
        if not first:  # v is zero before the first message; skip the E×3×Fv gather
            dv_e = dv_e + v[src] * dvv.unsqueeze(1)
        s = s.index_add(0, dst, ds_e)
        v = v.index_add(0, dst, dv_e)
        return s, v


class PaiNNUpdate(nn.Module):
    """Per-atom mixing: invariants of the vectors feed the scalars, scalars gate the vectors."""

    def __init__(self, features: int, vector_features: int, norm_eps: float = 0.05) -> None:
        super().__init__()
        self.f, self.fv = features, vector_features
        self.eps2 = norm_eps * norm_eps
        self.uv = nn.Linear(vector_features, 2 * vector_features, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(features + 2 * vector_features, features),
            nn.SiLU(),
            nn.Linear(features, features + vector_features),
        )

    def forward(self, s, v):
        u, w = torch.split(self.uv(v), self.fv, dim=-1)
        # a smooth norm: |w| vanishes by symmetry at high-symmetry sites, and a plain norm is a cusp there
        wn = torch.sqrt((w * w).sum(dim=1) + self.eps2)
        uw = (u * w).sum(dim=1)
        a = self.mlp(torch.cat([s, wn, uw], dim=-1))
        ds, avv = torch.split(a, [self.f, self.fv], dim=-1)
        return s + ds, v + avv.unsqueeze(1) * u
