"""A release renders the card from files next to the weights and recomputes every checksum and the registry."""

from __future__ import annotations

import json

import pytest

from unihub.foundation.files import sha256_file
from unihub.zoo import release as rel

CARD = """## Intended use
Testing.

## How to use
`load_model("tiny-rel")`

## Training data
EMT frames.

## Limitations
A toy.

## Citation
None.
"""


@pytest.fixture
def shelf(tmp_path, monkeypatch, tiny_model):
    models, registry = tmp_path / "models", tmp_path / "registry.json"
    registry.write_text(json.dumps({"models": {"old": {"location": "x", "files": {}, "aliases": ["tiny", "keep"]}}}))
    monkeypatch.setattr(rel, "MODELS", models)
    monkeypatch.setattr(rel, "REGISTRY_FILE", registry)
    folder = models / "tiny-rel"
    folder.mkdir(parents=True)
    tiny_model._write_files(folder)
    (folder / "card.md").write_text(CARD)
    (folder / "figures.json").write_text(json.dumps([{
        "title": "Force errors", "command": "python bench/x.py", "columns": ["model", "dataset", "force MAE"],
        "rows": [{"model": "tiny-rel", "dataset": "emt", "force MAE": 123.456789},
                 {"model": "peer", "dataset": "emt", "force MAE": 0.000123456}],
        "headline": {"dataset": "dataset", "metric": "force_mae_meV_per_A", "column": "force MAE"}}]))
    return folder, registry


def test_render_writes_card_checksums_and_registry(shelf):
    folder, registry = shelf
    rel.render("tiny-rel", aliases=["tiny"])
    text = (folder / "README.md").read_text()
    assert "## Limitations\nA toy." in text and "Measured with `python bench/x.py`" in text
    assert "| tiny-rel | emt | 123 |" in text and "| peer | emt | 0.000123 |" in text  # 3 significant figures
    sums = json.loads((folder / "checksums.json").read_text())
    entry = json.loads(registry.read_text())["models"]
    assert entry["tiny-rel"]["files"] == sums == {n: sha256_file(folder / n)
                                                 for n in ("model.safetensors", "config.json", "README.md")}
    assert entry["tiny-rel"]["aliases"] == ["tiny"] and entry["old"]["aliases"] == ["keep"]  # an alias moves
    # editing the card is one command: the checksums follow
    (folder / "card.md").write_text(CARD.replace("A toy.", "A toy with a fixed typo."))
    rel.render("tiny-rel")
    assert json.loads(registry.read_text())["models"]["tiny-rel"]["files"]["README.md"] == sha256_file(
        folder / "README.md") != sums["README.md"]
    assert json.loads(registry.read_text())["models"]["tiny-rel"]["aliases"] == ["tiny"]  # kept by default


def test_a_card_without_its_sections_is_refused(shelf):
    folder, _ = shelf
    (folder / "card.md").write_text(CARD.replace("## Limitations", "## Caveats"))
    with pytest.raises(ValueError, match="Limitations"):
        rel.render("tiny-rel")
    (folder / "card.md").unlink()
    with pytest.raises(FileNotFoundError, match="card.md"):
        rel.render("tiny-rel")


def test_sig3():
    assert [rel.sig3(x) for x in (0.0, 1.23456, 12.3456, 123.456, 4543.47, 0.000123456, float("nan"), "-")] == [
        "0", "1.23", "12.3", "123", "4,543", "0.000123", "–", "-"]


def test_shipped_cards_render_from_their_files():
    for folder in rel.MODELS.iterdir():
        if (folder / "config.json").exists() and "safetensors" in " ".join(p.name for p in folder.iterdir()):
            text = (folder / "card.md").read_text()
            assert all(s in text for s in rel.CARD_SECTIONS), folder
