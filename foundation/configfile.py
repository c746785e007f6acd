"""Config dataclasses to and from plain mappings and YAML files, unknown keys refused by name.

A config is a dataclass whose fields are plain values (numbers, strings, lists, mappings) or further
config dataclasses (its sections). ``YamlConfig`` gives such a class ``from_dict``/``from_yaml``/
``to_dict``/``to_yaml``; ``with_overrides`` applies keyword overrides, through an alias table for the
flat keyword names of nested fields (``replay_ratio`` → ``replay.ratio``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from unihub.foundation.errors import InputError, MissingInputError
from unihub.foundation.files import atomic_write

C = TypeVar("C")


def _options(annotation) -> tuple:
    """The types a field's annotation allows (a union's members, else the annotation itself)."""
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    return typing.get_args(annotation) if union else (annotation,)


def _section_type(annotation) -> type | None:
    """The dataclass a field's annotation names (alone or in a union), else None."""
    return next((t for t in _options(annotation) if isinstance(t, type) and dataclasses.is_dataclass(t)), None)


def _is_float(annotation) -> bool:
    options = set(_options(annotation))
    return float in options and options <= {float, type(None)}


def _coerce(annotation, value):
    # YAML 1.1 reads 1e-3 (no dot) as a string: a float field takes it as the number it spells
    if isinstance(value, str) and _is_float(annotation):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def from_mapping(cls: type[C], d: dict | None, section: str | None = None) -> C:
    """``cls`` built from ``d``: sections from nested mappings (None: the section's defaults), a union of
    a section with plain values (``ActiveConfig | bool``) from a mapping or as given; unknown keys refused."""
    d = dict(d or {})
    hints = typing.get_type_hints(cls)
    known = sorted(f.name for f in dataclasses.fields(cls))
    unknown = set(d) - set(known)
    if unknown:
        where = "top-level config keys" if section is None else "keys"
        raise InputError(f"unknown {where} {sorted(unknown)}" + (f" in '{section}'" if section else "")
                         + f"; known: {known}")
    kw = {}
    for key, value in d.items():
        sub = _section_type(hints[key])
        name = key if section is None else f"{section}.{key}"
        if sub is None:
            kw[key] = _coerce(hints[key], value)
        elif isinstance(value, dict) or (value is None and sub is hints[key]):
            kw[key] = from_mapping(sub, value, name)
        elif sub is hints[key] and not isinstance(value, sub):
            raise InputError(f"config section '{name}' must be a mapping of its keys, got {value!r}")
        else:
            kw[key] = value
    return cls(**kw)


def _plain(value):
    """asdict's output with tuples, sets and numpy values (which ``yaml.safe_dump`` cannot write) as lists
and numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


def to_mapping(cfg) -> dict:
    """The config as nested plain mappings (sections as mappings)."""
    return _plain(dataclasses.asdict(cfg))


def read_mapping(path: str | os.PathLike, what: str, hint: str, sections: str) -> dict | None:
    """The mapping a YAML file holds; a missing, unparsable or non-mapping file is refused by name (the
    ``what`` it should be and ``hint``, where to find one; a non-mapping with the ``sections`` it should hold)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no {what} at {path}; pass a YAML file ({hint})")
    try:
        d = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not valid YAML: {str(err).splitlines()[0]}; fix the file") from err
    if d is not None and not isinstance(d, dict):
        raise InputError(f"{path} holds a YAML {type(d).__name__}, not a mapping of sections ({sections})")
    return d


def with_overrides(cfg: C, overrides: dict[str, Any], aliases: dict[str, str] | None = None) -> C:
    """A copy of ``cfg`` with ``overrides`` set: each key a top-level field (a section takes its dataclass
    or a mapping of its keys) or an alias of a nested field (``{"replay_ratio": "replay.ratio"}``; an alias
    that is also a section's name sets the nested field unless given a mapping or the section itself)."""
    aliases = aliases or {}
    fields = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(overrides) - fields - set(aliases))
    if unknown:
        raise InputError(f"unknown {type(cfg).__name__} settings {unknown}; known: {sorted(fields | set(aliases))}")
    out = copy.deepcopy(cfg)  # a section or mapping changed later leaves the caller's config as it was
    hints = typing.get_type_hints(type(cfg))
    for key, value in overrides.items():
        sub = _section_type(hints[key]) if key in fields else None
        if key in aliases and not (sub is not None and isinstance(value, (sub, dict))):
            section, leaf = aliases[key].split(".")
            setattr(out, section, dataclasses.replace(getattr(out, section), **{leaf: value}))
        elif sub is not None and isinstance(value, dict):
            setattr(out, key, from_mapping(sub, value, key))
        else:
            setattr(out, key, value)
    return out


def flat(cfg, aliases: dict[str, str]) -> dict[str, Any]:
    """The config's fields by their flat keyword names: aliased nested fields by alias, sections that
    every alias covers left out, other fields by name."""
    covered = {path.split(".")[0] for path in aliases.values()}
    out = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in covered}
    for alias, path in aliases.items():
        section, leaf = path.split(".")
        out[alias] = getattr(getattr(cfg, section), leaf)
    return out


class YamlConfig:
    """``from_dict``/``from_yaml``/``to_dict``/``to_yaml`` for a config dataclass (``from_mapping``)."""

    _WHAT = "config"  # how a missing file's refusal names it
    _HINT = "see --help"  # where to find the file's form
    ALIASES: typing.ClassVar[dict[str, str]] = {}  # flat keyword name -> "section.field" of a nested setting

    def with_overrides(self, **overrides):
        """A copy with settings replaced, by field name or flat keyword name (unknown names refused)."""
        return with_overrides(self, overrides, self.ALIASES)

    def flat(self) -> dict[str, Any]:
        """The settings by their flat keyword names (``ALIASES``) and top-level field names."""
        return flat(self, self.ALIASES)

    @classmethod
    def from_dict(cls, d: dict | None):
        return from_mapping(cls, d)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, defaults: dict | None = None):
        """The config in a YAML file, over top-level ``defaults`` if given; a missing, unparsable or
        non-mapping file is refused by name."""
        hints = typing.get_type_hints(cls)
        sections = ", ".join(k for k, t in hints.items() if _section_type(t) is not None)
        d = read_mapping(path, cls._WHAT, cls._HINT, f"{sections} and settings")
        return cls.from_dict({**(defaults or {}), **(d or {})})

    def to_dict(self) -> dict:
        return to_mapping(self)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The config as YAML text (sections in field order), also written to ``path`` if given."""
        try:
            text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        except yaml.representer.RepresenterError as err:
            raise InputError(f"a {type(self).__name__} setting cannot be written as YAML ({err.args[-1]!r}): "
                             "give numbers, strings, lists and mappings") from err
        if path is not None:
            atomic_write(path, lambda p: Path(p).write_text(text))
        return text
