import json
from pathlib import Path

import pytest
import torch

from unihub.foundation.model.config import ModelConfig
from unihub.zoo.models import UniversalModel


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    m = UniversalModel(ModelConfig(features=8, vector_features=4, layers=1, cutoff=4.0))
    with torch.no_grad():
        m.reference_energies.uniform_(-3, -1)
        m.seen_elements[:, [13, 14, 29]] = True
    m.name = "tiny"
    m.card = {"title": "tiny test model", "license": "mit", "tags": ["unihub", "test"]}
    return m.eval()


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def registry_file(tmp_path, monkeypatch):
    """Write a user registry and point UNIHUB_REGISTRY at it."""
    path = tmp_path / "registry.json"

    def write(models: dict) -> Path:
        path.write_text(json.dumps({"models": models}))
        monkeypatch.setenv("UNIHUB_REGISTRY", str(path))
        return path

    return write
