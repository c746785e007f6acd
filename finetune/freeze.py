"""Named stages of the universal potential: freezing them and giving them their own learning rates.

Stages: ``elements`` (element embedding), ``fidelity`` (fidelity embedding), ``embeddings`` (both),
``radial``, ``interaction:i`` (message + update block i), ``interaction`` (all blocks), ``readout``,
``all``. A spec is a comma-separated string (``"embeddings,interaction:0"``) or a list of names.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

_PREFIX = {"element_embedding": "elements", "fidelity_embedding": "fidelity", "radial": "radial",
           "readout": "readout"}


def stage_of(parameter_name: str) -> str:
    """The stage a parameter belongs to (``messages.1.phi.0.weight`` → ``interaction:1``)."""
    head, _, rest = parameter_name.partition(".")
    if head in ("messages", "updates"):
        return f"interaction:{rest.split('.')[0]}"
    if head in _PREFIX:
        return _PREFIX[head]
    raise ValueError(f"parameter {parameter_name!r} belongs to no known stage")


def stage_names(model: nn.Module) -> list[str]:
    """Every atomic stage of ``model`` in forward order."""
    return list(dict.fromkeys(stage_of(n) for n, _ in model.named_parameters()))


def parse_stages(spec: str | Iterable[str] | None, model: nn.Module) -> set[str]:
    """The atomic stages a spec names; unknown names are refused with the valid ones listed."""
    if spec is None:
        return set()
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    atomic = stage_names(model)
    blocks = [s for s in atomic if s.startswith("interaction:")]
    groups = {"embeddings": ["elements", "fidelity"], "interaction": blocks, "all": atomic}
    out: set[str] = set()
    for name in filter(None, names):
        if name in groups:
            out.update(groups[name])
        elif name in atomic:
            out.add(name)
        else:
            valid = ["embeddings", "interaction", "all", *atomic]
            raise ValueError(f"unknown stage {name!r}; valid stages: {', '.join(valid)}")
    return out


def freeze(model: nn.Module, spec: str | Iterable[str] | None) -> set[str]:
    """Turn off gradients of the stages ``spec`` names; returns them."""
    stages = parse_stages(spec, model)
    for name, p in model.named_parameters():
        if stage_of(name) in stages:
            p.requires_grad_(False)
    return stages


def param_groups(model: nn.Module, lr: float, lr_factors: dict[str, float] | None = None) -> list[dict]:
    """AdamW groups of the trainable parameters, one per learning-rate factor.

    ``lr_factors`` maps stage specs to multipliers of ``lr`` (``{"embeddings": 0.1}``); a stage named
    twice takes the later factor. Frozen parameters are left out so the optimiser never touches them.
    """
    factor_of: dict[str, float] = {}
    for spec, factor in (lr_factors or {}).items():
        if factor < 0:
            raise ValueError(f"learning-rate factor of {spec!r} must be >= 0, got {factor}")
        factor_of.update(dict.fromkeys(parse_stages(spec, model), float(factor)))
    groups: dict[float, list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault(factor_of.get(stage_of(name), 1.0), []).append(p)
    return [{"params": ps, "lr": lr * f} for f, ps in groups.items()]
