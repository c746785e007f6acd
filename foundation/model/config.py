"""Hyper-parameters of the universal potential, stored next to its weights as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DEFAULT_FIDELITIES = ["pbe", "pbesol", "rpbe", "r2scan", "lda"]


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network (weights aside)."""

    cutoff: float = 5.0
    features: int = 64
    layers: int = 3
    vector_features: int = 16
    n_basis: int = 8
    envelope_p: int = 6
    fidelity_dim: int = 16
    fidelities: list[str] = field(default_factory=lambda: list(DEFAULT_FIDELITIES))
    default_fidelity: str = "pbe"
    vectors: bool = True  # False turns PaiNN into an invariant (distance-only) network
    zbl: bool = True
    max_z: int = 118

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
