"""CHGNet 0.3.0 (Deng et al. 2023), through the ``chgnet`` package's own ASE calculator.

The weights ship inside the package. ``chgnet==0.3.0`` itself is yanked on PyPI because its
wheel lacks them; every later release ships the same 0.3.0 file (same sha256), and we pin the
release tested here. CHGNet's model predicts stress in GPa with ASE's sign; its calculator
multiplies by ``stress_weight``, which we set to ``ase.units.GPa`` so results are in eV/Å³.
The checkpoint is loaded here with ``weights_only=True`` after its sha256 is checked.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from unihub.zoo.peers._spec import PeerSpec, spec_fields

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


def _build(checkpoint: Path, device: str) -> Calculator:
    # torch, ase (which edits the global warning filters on import) and the optional chgnet package only when the
    # peer is built: importing unihub.zoo.peers has no side effects
    import torch
    from ase import units

    # The checkpoint holds only tensors and plain containers, so it loads without unpickling code.
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    # chgnet prints on construction and edits the global warning filters on import: keep both local.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        # The same arguments as CHGNet.load(model_name="0.3.0") (mlp_out_bias only for 0.2.0).
        model = CHGNet.from_dict(state["model"], mlp_out_bias=False, version=SPEC.model_revision)
        calc = CHGNetCalculator(model=model, use_device=device, stress_weight=units.GPa)
    return calc


SPEC = PeerSpec(**spec_fields("chgnet"), build=_build)
