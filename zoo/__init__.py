"""The model zoo: names, storage, checksums, loading and publishing of unihub models."""

from unihub.zoo.load import load_model
from unihub.zoo.registry import list_models

__all__ = ["load_model", "list_models"]
