"""Data cards: one Markdown file per dataset, YAML front matter (what code reads) + prose (what people read)."""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from unihub.foundation.errors import InputError, MissingInputError, UnihubError
from unihub.foundation.files import atomic_write

from .readers import READERS

# generated: training data made here (teacher labels); its files live in the cache and its card names the command
# external: a public file the project reads when a user supplies it (or fetches it online); not in the shared
# data, so its sha256 may be unknown (null) until someone has fetched it
ROLES = ("train", "bench", "finetune", "generated", "external")
# mptrj: raw Materials Project GGA/GGA+U totals (MP settings and U values, not MP2020-corrected).
FIDELITIES = ("pbe", "pbesol", "rpbe", "r2scan", "lda", "mptrj", "optb88vdw", "mixed")
ENERGY_REFERENCES = ("total", "cohesive")
REQUIRED_KEYS = ("name", "title", "role", "folder", "reader", "reader_options", "files", "source", "license",
                 "dataset_license", "dft_code", "functional", "fidelity", "energy_reference", "units",
                 "elements", "counts", "splits", "citation")


class UnknownCardError(UnihubError, LookupError):
    """No card of that name; the message lists close matches."""


@dataclass(frozen=True)
class CardFile:
    """One file of a dataset.

    ``archive_of``/``git_tree`` mark a tar.gz repack of a source folder. ``derived_from`` marks a file
    converted from source files (no URL serves it as it is): how it was made and the sources' blob ids.
    """

    path: str
    url: str | None
    sha256: str | None
    bytes: int | None
    archive_of: str | None = None
    git_tree: str | None = None
    derived_from: dict | None = None


@dataclass(frozen=True)
class Card:
    """A parsed data card; field meanings are documented in ``data_cards/README.md``."""

    name: str
    title: str
    role: str
    folder: str
    reader: str | None
    reader_options: dict
    files: tuple[CardFile, ...]
    source: dict
    license: Any
    dataset_license: str
    dft_code: str
    functional: str
    fidelity: str
    energy_reference: str
    units: dict
    elements: tuple[str, ...]
    counts: dict
    splits: dict
    citation: str
    prose: str
    path: Path
    sha256: str

    def file(self, path: str) -> CardFile:
        """The card entry for ``path`` (relative to the dataset folder)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"card {self.name!r} lists no file {path!r}; it lists {[f.path for f in self.files]}")

    def reader_for(self, file: CardFile | str) -> tuple[str | None, dict]:
        """Reader key and merged options for one file (``overrides`` entries whose ``match`` glob fits).

        A ``None`` key means the file is support data (e.g. structures another file points at),
        not read as frames on its own.
        """
        rel = file.path if isinstance(file, CardFile) else file
        opts = {k: v for k, v in self.reader_options.items() if k != "overrides"}
        for ov in self.reader_options.get("overrides", []):
            if fnmatch.fnmatch(rel, ov["match"]):
                opts.update({k: v for k, v in ov.items() if k != "match"})
        key = opts.pop("reader", self.reader)
        if opts.pop("skip", False):
            key = None
        return key, opts


def cards_dir() -> Path:
    """Where cards live: ``$UNIHUB_CARDS``, the repository's ``data_cards/``, or the installed package."""
    env = os.environ.get("UNIHUB_CARDS")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2] / "data_cards"
    if repo.is_dir():
        return repo
    # Non-editable installs: data_cards/ ships as unihub.data_cards, a package holding only the .md files.
    spec = importlib.util.find_spec("unihub.data_cards")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise MissingInputError("no data_cards/ folder found; set UNIHUB_CARDS to the folder holding the cards")


def list_cards(role: str | None = None) -> list[str]:
    """Names of all cards, optionally only those of one ``role`` (see ``ROLES``)."""
    if role is not None and role not in ROLES:
        raise InputError(f"role must be one of {ROLES} or None, got {role!r}")
    names = sorted(p.stem for p in cards_dir().glob("*.md") if p.stem.lower() != "readme")
    return names if role is None else [n for n in names if load_card(n).role == role]


def load_card(name: str) -> Card:
    """The card called ``name``; unknown names fail with the closest matches."""
    path = cards_dir() / f"{name}.md"
    if not path.is_file():
        known = list_cards()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"known cards: {', '.join(known)}"
        raise UnknownCardError(f"no data card named {name!r}; {hint}")
    st = path.stat()
    return _parse(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _parse(path: Path, _mtime_ns: int, _size: int) -> Card:
    return _parse_text(path, path.read_bytes().decode("utf-8"))


def _parse_text(path: Path, text: str) -> Card:
    raw = text.encode("utf-8")
    meta, prose = split_front_matter(text, path)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise InputError(f"{path}: front matter lacks {missing}")
    if meta["name"] != path.stem:
        raise InputError(f"{path}: name {meta['name']!r} does not match the file name")
    _check_choice(path, "role", meta["role"], ROLES)
    _check_choice(path, "fidelity", meta["fidelity"], FIDELITIES)
    _check_choice(path, "energy_reference", meta["energy_reference"], ENERGY_REFERENCES)
    files = tuple(_card_file(path, f) for f in meta["files"])
    if meta["role"] != "external" and any(f.sha256 is None for f in files):
        raise InputError(f"{path}: every file of a {meta['role']} card needs its sha256 (only external cards "
                         "may leave it null)")
    fields = {k: meta[k] for k in REQUIRED_KEYS}
    fields.update(files=files, elements=tuple(meta["elements"]), reader_options=meta["reader_options"] or {})
    card = Card(**fields, prose=prose, path=path, sha256=hashlib.sha256(raw).hexdigest())
    _check_readers(card)
    return card


def split_front_matter(text: str, origin: Path | str = "<card>") -> tuple[dict, str]:
    """(YAML front matter as a dict, the Markdown after it)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise InputError(f"{origin}: a card must start with a '---' line")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            meta = yaml.safe_load("".join(lines[1:i])) or {}
            if not isinstance(meta, dict):
                raise InputError(f"{origin}: front matter must be a mapping")
            return meta, "".join(lines[i + 1:]).strip() + "\n"
    raise InputError(f"{origin}: front matter is not closed by a '---' line")


def _card_file(path: Path, entry: dict) -> CardFile:
    need = {"path", "url", "sha256", "bytes"}
    if not isinstance(entry, dict) or not need <= entry.keys():
        raise InputError(f"{path}: each file needs {sorted(need)}, got {entry!r}")
    extra = set(entry) - need - {"archive_of", "git_tree", "derived_from"}
    if extra:
        raise InputError(f"{path}: unknown file keys {sorted(extra)} in {entry['path']!r}")
    if ("archive_of" in entry) != ("git_tree" in entry):
        raise InputError(f"{path}: {entry['path']!r} needs both archive_of and git_tree, or neither")
    derived = entry.get("derived_from")
    if derived is not None and not (isinstance(derived, dict) and {"method", "sources"} <= derived.keys()):
        raise InputError(f"{path}: derived_from of {entry['path']!r} needs 'method' and 'sources'")
    if (entry["url"] is None) != (derived is not None):
        raise InputError(f"{path}: {entry['path']!r} needs a url, or url: null with derived_from (a converted file)")
    return CardFile(**{**entry, "bytes": None if entry["bytes"] is None else int(entry["bytes"])})


def _check_choice(path: Path, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{path}: {key} must be one of {allowed}, got {value!r}")


def _check_readers(card: Card) -> None:
    for f in card.files:
        key, _ = card.reader_for(f)
        if key is not None and key not in READERS:
            raise InputError(f"{card.path}: reader {key!r} for {f.path!r} is not in READERS {sorted(READERS)}")


def write_card(meta: dict, prose: str, directory: str | os.PathLike | None = None) -> Path:
    """Write ``<directory>/<meta['name']>.md`` atomically (default: the cards folder) and parse it back,
    so a card that :func:`load_card` would refuse is never left behind."""
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise InputError(f"card {meta.get('name')!r} lacks {missing}")
    path = Path(directory or cards_dir()) / f"{meta['name']}.md"
    text = "---\n" + yaml.safe_dump({k: meta[k] for k in REQUIRED_KEYS}, sort_keys=False, allow_unicode=True,
                                    width=115) + "---\n\n" + prose.strip() + "\n"
    _parse_text(path, text)  # every check load_card makes, before the file exists
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
