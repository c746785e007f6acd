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

from unihub.foundation.errors import InputError, MissingInputError

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


class UnknownModelError(InputError):
    """No registry entry has that name or alias; the message lists close matches."""


_SHAPE = '{"models": {"NAME": {"location": "...", "files": {"FILE": "SHA256"}}}}'


def _load(path: Path, origin: str) -> dict[str, Entry]:
    """Entries of a registry file; ``origin`` names where the path came from, for the error message."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingInputError(f"{origin} names {path}, which does not exist; point it at a registry JSON file "
                                "or unset it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{origin} names {path}, which is not readable JSON ({err}); fix the file or unset "
                         "the variable") from err
    models = raw.get("models") if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise InputError(f"{origin} names {path}, which lacks a 'models' object; expected {_SHAPE}")
    known = set(Entry.__dataclass_fields__) - {"name"}
    entries = {}
    for name, spec in models.items():
        bad = sorted(set(spec) - known) if isinstance(spec, dict) else None
        if bad is None or bad or not {"location", "files"} <= set(spec):
            raise InputError(f"{origin} names {path}: entry {name!r} must be an object with 'location' and "
                             f"'files' (optional: {sorted(known - {'location', 'files'})})"
                             + (f"; unknown keys {bad}" if bad else "") + f"; expected {_SHAPE}")
        entries[name] = Entry(name=name, **spec)
    return entries


def registry() -> dict[str, Entry]:
    """All registered models (the shipped registry plus ``UNIHUB_REGISTRY`` if set)."""
    entries = _load(REGISTRY_FILE, "the shipped registry")
    extra = os.environ.get("UNIHUB_REGISTRY")
    if extra:
        entries.update(_load(Path(extra).expanduser(), "UNIHUB_REGISTRY"))
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
    raise UnknownModelError(f"unknown model {name!r}{hint} Known models: {', '.join(sorted(entries))} "
                     "(or pass a local path, hf://owner/repo or an https:// URL)")


def list_models() -> list[dict]:
    """Name, kind, aliases and description of every registered model."""
    return [{"name": e.name, "kind": e.kind, "aliases": e.aliases, "description": e.description,
             "location": e.location} for e in registry().values()]
