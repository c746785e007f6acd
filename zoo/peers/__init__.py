"""Peer models (CHGNet, SevenNet-0) as ASE calculators, side by side with ours, offline.

>>> from unihub.zoo.peers import peer_calculator
>>> atoms.calc = peer_calculator("chgnet", num_threads=2)   # energy eV, forces eV/Å, stress eV/Å³

The peers' packages are optional (``pip install 'unihub[peers]'`` or ``bash .ci/install_peers.sh``)
and are imported only when a calculator is asked for; importing this module imports neither them
nor torch. Every peer's weights ship inside its package and are checked against a sha256 before use.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from unihub.foundation.errors import InputError
from unihub.zoo.peers import chgnet as _chgnet
from unihub.zoo.peers import sevennet as _sevennet
from unihub.zoo.peers._spec import INSTALL_HINT, PeerChecksumError, PeerSpec, PeerUnavailable

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

__all__ = [
    "INSTALL_HINT",
    "PEERS",
    "PeerChecksumError",
    "PeerSpec",
    "PeerUnavailable",
    "peer_available",
    "peer_calculator",
    "peer_info",
]

PEERS: dict[str, PeerSpec] = {spec.name: spec for spec in (_chgnet.SPEC, _sevennet.SPEC)}


def _spec(name: str) -> PeerSpec:
    key = name.strip().lower() if isinstance(name, str) else name
    if key in PEERS:
        return PEERS[key]
    close = difflib.get_close_matches(str(key), list(PEERS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"unknown peer {name!r}; {hint}known peers: {', '.join(sorted(PEERS))}")


def peer_available(name: str) -> bool:
    """Whether the peer's package is importable and ships its weights (the checksum is not read)."""
    path = _spec(name).checkpoint_path()
    return path is not None and path.is_file()


def peer_info(name: str) -> dict[str, Any]:
    """Package version, checkpoint, training data and energy reference; works without the package."""
    return _spec(name).info()


def peer_calculator(name: str, *, device: str = "cpu", num_threads: int | None = None) -> Calculator:
    """The peer's ASE calculator: ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å³, ASE sign).

    ``num_threads`` sets torch's intra-op threads for the whole process when given (nothing is set
    on import). Raises :class:`PeerUnavailable` (an ``ImportError``) when the package or its weights
    are missing and :class:`PeerChecksumError` when the shipped weights are not the tested file.
    """
    spec = _spec(name)
    checkpoint = spec.require()
    if num_threads is not None:
        if num_threads < 1:
            raise InputError(f"num_threads must be >= 1, got {num_threads}")
        import torch  # importing unihub.zoo.peers stays free of torch

        torch.set_num_threads(num_threads)
    return spec.build(checkpoint, device)
