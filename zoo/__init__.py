"""The model zoo: names, storage, checksums, loading and publishing of unihub models, and the peers
(CHGNet, SevenNet-0) behind the same interface."""

__all__ = ["load_model", "list_models"]


def __getattr__(name: str):
    # lazy, so ``import unihub.zoo.peers`` stays free of torch
    if name == "load_model":
        from unihub.zoo.load import load_model

        return load_model
    if name == "list_models":
        from unihub.zoo.registry import list_models

        return list_models
    raise AttributeError(f"module 'unihub.zoo' has no attribute {name!r}")
