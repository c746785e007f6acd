"""Hyper-parameters of the universal potential, stored next to its weights as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from unihub.foundation.errors import InputError

DEFAULT_FIDELITIES = ["pbe", "pbesol", "rpbe", "r2scan", "lda"]
LEGACY_VECTOR_NORM_EPS = 1e-4  # sqrt(|w|^2 + 1e-8), what models saved without ``vector_norm_eps`` used


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
    # the update block's vector invariant is sqrt(|w|^2 + eps^2): quadratic below eps, |w| above. With a
    # tiny eps it is a cusp at |w| = 0, i.e. at every high-symmetry site, which made the potential stiff
    # (Si Γ optical 22 THz vs 15.5) and put restoring forces of ~0.6 eV/Å at 0.005 Å from equilibrium
    vector_norm_eps: float = 0.05
    # (lo, hi) as fractions of the pair's covalent-radius sum: every learned edge filter is switched off
    # below lo and fully on above hi, so at short range only the ZBL prior moves the energy (a structural
    # guarantee that a pair's energy rises as it is pushed together); None keeps the network unswitched
    inner_switch: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.inner_switch is not None:  # YAML and JSON give a list: one form, checked once
            lo, hi = (float(x) for x in self.inner_switch)
            if not 0 < lo < hi:
                raise InputError(f"inner_switch must be (lo, hi) with 0 < lo < hi, got {self.inner_switch}")
            self.inner_switch = (lo, hi)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known.setdefault("vector_norm_eps", LEGACY_VECTOR_NORM_EPS)  # saved before the field existed
        return cls(**known)
