"""The model zoo: names, storage, checksums, loading and publishing of unihub models."""

from zoo.load import load_model
from zoo.registry import list_models

__all__ = ["load_model", "list_models"]
