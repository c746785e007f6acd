"""Fixtures for the data tests: the shared data folder (skip when absent) and an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep the verified-files ledger (and any download) out of the user's real cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    mp.setenv("UNIHUB_CACHE", str(tmp_path_factory.mktemp("unihub-cache")))
    mp.delenv("UNIHUB_OFFLINE", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder: ``$UNIHUB_DATA``, else ``<repo>/../shared/data`` (then exported)."""
    env = os.environ.get("UNIHUB_DATA")
    path = (Path(env) if env else REPO / ".." / "shared" / "data").resolve()
    if not (path / "train").is_dir():
        pytest.skip(f"shared DFT data not found at {path}; set UNIHUB_DATA to the folder holding train/ and bench/")
    os.environ["UNIHUB_DATA"] = str(path)
    return path


@pytest.fixture(scope="session")
def manifest(shared_data) -> dict:
    import json

    return {d["name"]: d for d in json.loads((shared_data / "MANIFEST.json").read_text())["datasets"]}


@pytest.fixture(scope="session")
def dataset(shared_data):
    """``dataset(name)`` -> frames of a card-described dataset, read once per session."""
    from unihub.foundation.data import load_dataset

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_dataset(name)
        return cache[name]

    return get


def pytest_collection_modifyitems(config, items):
    """The full-pack check reads every training file (~1 min): run it with UNIHUB_SLOW=1."""
    if os.environ.get("UNIHUB_SLOW") == "1":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="slow: reads every training file; set UNIHUB_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords and here in Path(item.fspath).parents:
            item.add_marker(skip)
