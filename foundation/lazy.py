"""Names a package serves from submodules that are imported on first use.

A package ``__init__`` that imported its heavy submodules at once would make each light one pay for them:
``unihub.zoo.peers`` would import torch, ``unihub.finetune.mtp`` Lightning, ``import unihub`` both.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` comes from module ``exports[name]`` when first asked for."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
