"""The model zoo: names, storage, checksums, loading and publishing of unihub models, and the peers
(CHGNet, SevenNet-0) behind the same interface."""

from unihub.foundation.lazy import lazy_exports

__all__ = ["load_model", "list_models"]
__getattr__ = lazy_exports(__name__, {"load_model": "unihub.zoo.load", "list_models": "unihub.zoo.registry"})
