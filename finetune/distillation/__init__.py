"""Distillation: a teacher potential -> a Moment Tensor Potential student (teacher labels only).

- :func:`distill` -- the entry point (``unihub distill TEACHER --elements Si -o si.mtp``)
- ``config`` -- ``DistillConfig``, its settings (``unihub distill --config FILE.yaml``)
- ``structures`` -- starting structures: prototypes, known phases, strains, shears, vacancies,
  surfaces, stacking faults, close contacts, adatoms, ordered binary compounds and random alloys
- ``sampling`` -- teacher MD up each start's temperature ladder, rattles, batched teacher labels
- ``active`` -- MaxVol active learning on the student's own MD
- ``card`` -- the student's card and zoo folder
- ``labels`` -- the teacher labels kept in that folder as they are made, for ``resume``
"""

from .active import ActiveConfig, active_learning, active_set
from .card import DistilledStudent, card_fields
from .config import DistillConfig
from .distill import distill, load_reference
from .structures import generate_structures

__all__ = ["distill", "DistillConfig", "ActiveConfig", "active_learning", "active_set", "DistilledStudent",
           "card_fields", "generate_structures", "load_reference"]

