"""Model cards: README.md with Hugging Face ``ModelCardData`` front matter and readable prose."""

from __future__ import annotations

from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from unihub.foundation.files import atomic_write


def write_card(directory: str | Path, meta: dict) -> Path:
    """Write ``README.md``. ``meta`` keys: license, datasets, tags, base_model, eval_results
    (list of dicts: dataset, metric, value, split), title, body (Markdown prose)."""
    evals = [EvalResult(task_type="interatomic-potential", dataset_type=r["dataset"], dataset_name=r["dataset"],
                        dataset_split=r.get("split", "test"), metric_type=r["metric"], metric_name=r["metric"],
                        metric_value=float(r["value"]))
             for r in meta.get("eval_results", [])]
    data = ModelCardData(
        license=meta.get("license", "mit"), datasets=meta.get("datasets"), tags=meta.get("tags", ["unihub"]),
        base_model=meta.get("base_model"), library_name="unihub", model_name=meta.get("title"),
        eval_results=evals or None,
    )
    body = meta.get("body", "")
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {meta.get('title', 'unihub model')}\n\n{body}\n")
    path = Path(directory) / "README.md"
    atomic_write(path, lambda p: Path(p).write_text(str(card)))
    return path


def read_card(path: str | Path) -> dict:
    """Front matter of a card as a dict (plus ``body``)."""
    text = Path(path).read_text()
    if not text.startswith("---"):
        return {"body": text}
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front) or {}
    meta["body"] = body.strip()
    meta.setdefault("title", meta.get("model_name"))
    return meta
