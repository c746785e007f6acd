"""unihub: a hub of pretrained universal interatomic potentials.

>>> from unihub import load_model, list_models, ood_report
>>> from unihub.finetune import finetune, distill

The four stages are subpackages: ``unihub.foundation`` (graphs, model, training),
``unihub.finetune`` (fine-tuning, distillation to MTP), ``unihub.zoo`` (registry, loading,
publishing) and ``unihub.eval`` (OOD suites and reports). The ``unihub`` command is
``unihub.cli``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model", "list_models", "ood_report"]


def __getattr__(name: str) -> Any:
    # lazy, so importing a light subpackage (``unihub.zoo.peers``) does not pull in torch
    if name in ("load_model", "list_models"):
        from . import zoo

        return getattr(zoo, name)
    if name == "ood_report":
        from .eval import ood_report

        return ood_report
    raise AttributeError(f"module 'unihub' has no attribute {name!r}")
