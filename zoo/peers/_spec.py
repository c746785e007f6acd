"""What a peer adapter declares, and the checks every adapter shares.

Nothing here imports a peer package or torch: ``find_spec`` locates an installed package
without running it, so asking whether a peer is available has no side effects.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from unihub.foundation.errors import UnihubError
from unihub.foundation.files import sha256_file

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    from ase.calculators.calculator import Calculator

INSTALL_HINT = "pip install 'unihub[peers]'  (or: bash .ci/install_peers.sh [VENV])"


class PeerUnavailable(UnihubError, ImportError):
    """A peer model cannot be used here: its package or its shipped weights are missing."""


class PeerChecksumError(UnihubError, RuntimeError):
    """A peer's shipped checkpoint is not the file this adapter was written and tested for."""


@functools.cache
def _table() -> dict[str, dict]:
    return yaml.safe_load((Path(__file__).parent / "peers.yaml").read_text())


def spec_fields(name: str) -> dict[str, Any]:
    """The fields of one peer's :class:`PeerSpec` as ``peers.yaml`` states them (all but ``build``)."""
    fields = dict(_table()[name])
    fields["training_sets"] = tuple(fields["training_sets"])
    return fields


@dataclass(frozen=True)
class PeerSpec:
    """One peer model: where its package keeps the weights and what the model was trained on.

    ``build(checkpoint, device)`` returns the peer's own ASE calculator, set up so that it reports
    energy in eV, forces in eV/Å and stress in eV/Å³ with ASE's sign (negative under compression).
    """

    name: str
    distribution: str  # name on PyPI
    module: str  # top-level import name
    tested_version: str  # the pin in .ci/install_peers.sh and the `peers` extra
    model_revision: str
    checkpoint_relpath: str  # inside the installed package directory
    checkpoint_sha256: str
    training_data: str
    functional: str
    energy_reference: str
    # what its energies are: "raw" MP GGA/GGA+U totals or "mp2020" (MP2020-corrected) totals
    energy_scale: str
    citation: str
    # card names (or "card/file stem") of the hub's datasets whose frames the peer was trained on
    training_sets: tuple[str, ...]
    build: Callable[[Path, str], Calculator]

    @property
    def checkpoint_name(self) -> str:
        return Path(self.checkpoint_relpath).name

    def installed_version(self) -> str | None:
        """The installed package's version, or None when the package cannot be imported."""
        if _find_spec(self.module) is None:
            return None
        try:
            return version(self.distribution)
        except PackageNotFoundError:
            return None

    def checkpoint_path(self) -> Path | None:
        """Where the installed package keeps the weights (None when the package is not installed)."""
        spec = _find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / self.checkpoint_relpath

    def require(self) -> Path:
        """The verified checkpoint path, or a :class:`PeerUnavailable` / :class:`PeerChecksumError`."""
        path = self.checkpoint_path()
        if path is None:
            raise PeerUnavailable(
                f"peer {self.name!r} needs the {self.distribution!r} package "
                f"(tested with {self.distribution}=={self.tested_version}), which cannot be imported "
                f"here. Install it with: {INSTALL_HINT}"
            )
        if not path.is_file():
            raise PeerUnavailable(
                f"peer {self.name!r}: the installed {self.distribution} "
                f"{self.installed_version()} does not ship the weights {self.checkpoint_name} "
                f"(looked at {path}). Install the tested version with: {INSTALL_HINT}"
            )
        digest = sha256_file(path)
        if digest != self.checkpoint_sha256:
            raise PeerChecksumError(
                f"peer {self.name!r}: {path} has sha256 {digest}, expected {self.checkpoint_sha256} "
                f"({self.model_revision} as shipped in {self.distribution}=={self.tested_version}). "
                f"Reinstall the tested version with: {INSTALL_HINT}"
            )
        return path

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.distribution,
            "package_version": self.installed_version(),
            "tested_package_version": self.tested_version,
            "model_revision": self.model_revision,
            "checkpoint": self.checkpoint_name,
            "checkpoint_sha256": self.checkpoint_sha256,
            "training_data": self.training_data,
            "functional": self.functional,
            "energy_reference": self.energy_reference,
            "energy_scale": self.energy_scale,
            "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³ (ASE sign)"},
            "citation": self.citation,
        }


def _find_spec(module: str) -> ModuleSpec | None:
    # find_spec returns None for a name mapped to None in sys.modules (an import that is blocked).
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
