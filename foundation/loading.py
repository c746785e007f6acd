"""A model from a name or a file, for stages that may not import the one that knows how.

The zoo resolves names (registry, cache, Hub, checksums) but sits beside ``finetune``, not below it;
the MTP student's file reader belongs to ``finetune``, which the zoo may not import either. So the
``unihub`` package, which sits above the four stages and composes them, installs both here when it is
imported: the zoo's ``load_model`` as the loader, and ``finetune``'s reader for the ``mtp`` kind.
Stages call :func:`load_model`, :func:`as_model` and :func:`read_model` instead of importing each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

_loader: Callable[..., Any] | None = None
_readers: dict[str, Callable[..., Any]] = {}


def install_loader(load: Callable[..., Any]) -> None:
    """Make ``load(name_or_path, **kwargs)`` the loader behind :func:`load_model`."""
    global _loader
    _loader = load


def register_reader(kind: str, read: Callable[..., Any]) -> None:
    """Make ``read(path, **kwargs)`` the reader of model folders/files of ``kind`` (see ``zoo.models.model_kind``)."""
    _readers[kind] = read


def load_model(name_or_path: str | os.PathLike, **kwargs) -> Any:
    """The model a hub name or path names, through the installed loader (``unihub.zoo.load_model``)."""
    if _loader is None:
        raise RuntimeError("no model loader is installed; import unihub (it installs unihub.zoo.load_model)")
    return _loader(name_or_path, **kwargs)


def as_model(model: Any) -> Any:
    """``model`` itself, or the model it names when it is a name or path."""
    return load_model(model) if isinstance(model, (str, os.PathLike)) else model


def read_model(kind: str, path: str | Path, **kwargs) -> Any:
    """A model of ``kind`` read from ``path`` by the reader registered for that kind."""
    if kind not in _readers:
        raise ValueError(f"no reader for models of kind {kind!r}; known kinds: {sorted(_readers)}")
    return _readers[kind](path, **kwargs)
