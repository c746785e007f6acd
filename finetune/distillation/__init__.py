"""Distillation: a teacher potential -> a Moment Tensor Potential student (teacher labels only).

- :func:`distill` -- the entry point (``unihub distill TEACHER --elements Si -o si.mtp``)
- ``config`` -- ``DistillConfig``, its settings (``unihub distill --config FILE.yaml``)
- ``structures`` -- starting structures: prototypes, known phases, strains, shears, vacancies,
  surfaces, stacking faults, close contacts, adatoms, ordered binary compounds and random alloys
- ``sampling`` -- teacher MD up each start's temperature ladder, rattles, batched teacher labels
- ``active`` -- MaxVol active learning on the student's own MD
- ``card`` -- the student's card and zoo folder
- ``labels`` -- the teacher labels kept in that folder as they are made, for ``resume``

The settings import with the package; the rest on first use, so that the command line's parser
(which reads the settings' defaults) stays free of torch.
"""

import sys
import types

from unihub.foundation.lazy import lazy_exports

from .config import ActiveConfig, DistillConfig

__all__ = ["distill", "DistillConfig", "ActiveConfig", "active_learning", "active_set", "DistilledStudent",
           "card_fields", "generate_structures", "load_reference"]
__getattr__ = lazy_exports(__name__, {
    "distill": f"{__name__}.distill", "load_reference": f"{__name__}.distill",
    "active_learning": f"{__name__}.active", "active_set": f"{__name__}.active",
    "DistilledStudent": f"{__name__}.card", "card_fields": f"{__name__}.card",
    "generate_structures": f"{__name__}.structures"})


class _Package(types.ModuleType):
    """This package: its name ``distill`` is the function, though the submodule defining it has that name too."""

    def __setattr__(self, name: str, value: object) -> None:
        # the import system binds a submodule on its package when first importing it; that binding would
        # hide the function from ``from unihub.finetune.distillation import distill``
        if name == "distill" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
