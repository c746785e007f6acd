"""Adapting models: fine-tuning (freezing, replay, EWC, new heads) and distillation to MTP students.

>>> from unihub.finetune import finetune, distill
>>> from unihub.finetune import FinetuneConfig, DistillConfig  # their settings, as YAML files take them
"""

from unihub.foundation.lazy import lazy_exports

__all__ = ["finetune", "distill", "FinetuneConfig", "DistillConfig"]
__getattr__ = lazy_exports(__name__, {"finetune": "unihub.finetune.run", "distill": "unihub.finetune.distillation",
                                      "FinetuneConfig": "unihub.finetune.config",
                                      "DistillConfig": "unihub.finetune.distillation.config"})
