"""Adapting models: fine-tuning (freezing, replay, EWC, new heads) and distillation to MTP students.

>>> from unihub.finetune import finetune, distill
"""

from unihub.foundation.lazy import lazy_exports

__all__ = ["finetune", "distill"]
__getattr__ = lazy_exports(__name__, {"finetune": "unihub.finetune.run", "distill": "unihub.finetune.distillation"})
