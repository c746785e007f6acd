"""Elastic weight consolidation: a diagonal Fisher on pretraining frames and the quadratic penalty."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def fisher_diagonal(model: nn.Module, batches: Iterable, loss_fn: Callable[[object], torch.Tensor]) -> dict:
    """Empirical diagonal Fisher: the mean over ``batches`` of the squared gradient of ``loss_fn(batch)``
    for each trainable parameter, normalised to mean 1 so that λ has the same meaning for any loss scale."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for batch in batches:
        grads = torch.autograd.grad(loss_fn(batch), list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads):
            if g is not None:
                fisher[n] += g.detach() ** 2
        count += 1
    if count == 0:
        raise ValueError("EWC needs at least one pretraining frame to estimate the Fisher information")
    total = sum(f.sum() for f in fisher.values())
    size = sum(f.numel() for f in fisher.values())
    scale = size / total.clamp(min=1e-30)
    return {n: f * scale for n, f in fisher.items()}


class EWCPenalty(nn.Module):
    """λ/2 · Σ_i F_i (θ_i − θ*_i)² over the parameters the Fisher covers, anchored at their current values."""

    def __init__(self, model: nn.Module, fisher: dict[str, torch.Tensor], weight: float) -> None:
        super().__init__()
        self.weight = float(weight)
        self.names = list(fisher)
        params = dict(model.named_parameters())
        for k, n in enumerate(self.names):
            self.register_buffer(f"fisher_{k}", fisher[n].detach().clone())
            self.register_buffer(f"anchor_{k}", params[n].detach().clone())

    def forward(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        first = next(iter(params.values()))
        total = torch.zeros((), dtype=first.dtype, device=first.device)
        for k, n in enumerate(self.names):
            diff = params[n] - getattr(self, f"anchor_{k}")
            total = total + (getattr(self, f"fisher_{k}") * diff * diff).sum()
        return 0.5 * self.weight * total
