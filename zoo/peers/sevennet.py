"""SevenNet-0 (11 July 2024; Park et al. 2024), through the ``sevenn`` package's own ASE calculator.

The checkpoint ships inside the package (``sevenn`` maps the names ``7net-0`` and
``SevenNet-0_11July2024`` to it). ``SevenNetCalculator`` already reports stress in eV/Å³ with
ASE's sign and Voigt order (it negates the model's virial-sign stress), so nothing is converted
here. sevenn unpickles the checkpoint (``weights_only=False``: its config holds numpy arrays);
we check the file's sha256 first and hand sevenn that exact path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from unihub.zoo.peers._spec import PeerSpec, spec_fields

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


def _build(checkpoint: Path, device: str) -> Calculator:
    # sevenn (optional) is imported when the peer is built, and edits the global warning filters on import:
    # keep that local.
    with warnings.catch_warnings():
        # The CUDA tensor-product kernels (cuEquivariance, flashTP, OpenEquivariance) do not apply
        # to CPU runs; sevenn warns about their absence on every construction.
        warnings.filterwarnings("ignore", message="No tensor product accelerator")
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(model=str(checkpoint), file_type="checkpoint", device=device)


SPEC = PeerSpec(**spec_fields("sevennet-0"), build=_build)
