"""Adapting models: fine-tuning (freezing, replay, EWC, new heads) and distillation to MTP students."""

__all__ = ["finetune"]


def __getattr__(name: str):
    # lazy, so ``import finetune.mtp`` does not pull in Lightning
    if name == "finetune":
        from finetune.run import finetune

        return finetune
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")
