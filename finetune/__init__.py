"""Adapting models: fine-tuning (freezing, replay, EWC, new heads) and distillation to MTP students.

>>> from unihub.finetune import finetune, distill
"""

__all__ = ["finetune", "distill"]


def __getattr__(name: str):
    # lazy, so ``import unihub.finetune.mtp`` does not pull in Lightning
    if name == "finetune":
        from .run import finetune

        return finetune
    if name == "distill":
        from .distillation import distill

        return distill
    raise AttributeError(f"module 'unihub.finetune' has no attribute {name!r}")
