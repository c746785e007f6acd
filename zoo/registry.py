"""The model registry: names and aliases → a location and the sha256 of every file.

Locations: ``package:<folder under zoo/>``, a local path, ``hf://owner/repo[@revision][/subfolder]``
or an ``https://`` folder URL. The registry is ``zoo/registry.json`` (one place); a user can add
entries in a JSON file named by ``UNIHUB_REGISTRY``.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY_FILE = Path(__file__).with_name("registry.json")


@dataclass
class Entry:
    name: str
    location: str
    files: dict[str, str]
    kind: str = "universal"
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    default_head: str | None = None


def _load(path: Path) -> dict[str, Entry]:
    raw = json.loads(path.read_text())
    return {name: Entry(name=name, **spec) for name, spec in raw["models"].items()}


def registry() -> dict[str, Entry]:
    """All registered models (the shipped registry plus ``UNIHUB_REGISTRY`` if set)."""
    entries = _load(REGISTRY_FILE)
    extra = os.environ.get("UNIHUB_REGISTRY")
    if extra:
        entries.update(_load(Path(extra)))
    return entries


def resolve(name: str) -> Entry:
    """The entry for a name or alias; unknown names list close matches."""
    entries = registry()
    key = name.lower()
    for e in entries.values():
        if key == e.name.lower() or key in (a.lower() for a in e.aliases):
            return e
    known = sorted(set(entries) | {a for e in entries.values() for a in e.aliases})
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown model {name!r}{hint} Known models: {', '.join(sorted(entries))} "
                     "(or pass a local path, hf://owner/repo or an https:// URL)")


def list_models() -> list[dict]:
    """Name, kind, aliases and description of every registered model."""
    return [{"name": e.name, "kind": e.kind, "aliases": e.aliases, "description": e.description,
             "location": e.location} for e in registry().values()]
