"""Front door for frames: named datasets (through their cards) and user files (format guessed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from ase.io import read
from ase.io.formats import UnknownFileTypeError

from unihub.foundation.errors import InputError, MissingInputError, UnihubError
from unihub.foundation.files import sha256_file
from unihub.foundation.validate import check_structure

from .cards import FIDELITIES, Card, list_cards, load_card
from .datadir import resolve_file
from .frame import Frame
from .readers import READERS, guess_format, mp_elemental_energies
from .splits import SPLITS, assign_splits


def iter_dataset(card: Card | str, data_dir: str | os.PathLike | None = None,
                 progress: bool = False) -> Iterator[Frame]:
    """Frames of every file of a dataset, in card order, each file verified (or fetched) first."""
    card = load_card(card) if isinstance(card, str) else card
    if card.reader is None:
        raise InputError(f"dataset {card.name!r} holds no frames (reader: null in its card); "
                         f"see {card.path} for how to use its files")
    for f in card.files:
        key, options = card.reader_for(f)
        if key is None:
            continue
        path = resolve_file(card, f, data_dir, progress=progress)
        options = {"fidelity": card.fidelity, **options, "dataset": card.name}
        for i, frame in enumerate(READERS[key](path, options)):
            check_frame(frame, f"{card.name}:{f.path}[{i}]")
            yield frame


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, split: str | None = None) -> list[Frame]:
    """All frames of the dataset ``name`` (see ``list_cards()``).

    ``split`` ('train', 'val' or 'test') keeps only that split, assigned as ``pack_mix`` does it:
    by group hash, honouring a split the source defines.
    """
    card = load_card(name)
    frames = list(iter_dataset(card, data_dir))
    if split is None:
        return frames

    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS} or None, got {split!r}")
    return [f for f, s in zip(frames, assign_splits(frames, card.splits), strict=True) if s == split]


def read_frames(path: str | os.PathLike, format: str | None = None, **options) -> list[Frame]:
    """Frames of a user file; ``format`` is a key of ``READERS``, guessed from the file if omitted.

    ``options`` go to the reader (e.g. ``energy_key='REF_energy'`` for extxyz, ``fidelity='pbe'``).
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path} does not exist")
    known = card_file_of(path)
    if known is not None and not options and format in (None, known[1]):
        # the same bytes as a card's file: read exactly as the card reads it (its conventions, e.g. a
        # per-element shear order, live in the card), so one file never gives two sets of frames
        card, key, card_options = known
        options = {"fidelity": card.fidelity, **card_options, "dataset": card.name}
    else:
        key = format or guess_format(path)
    if key not in READERS:
        raise InputError(f"unknown format {key!r}; use one of {sorted(READERS)}")
    options.setdefault("dataset", path.stem)
    frames: list[Frame] = []
    try:
        for i, frame in enumerate(READERS[key](path, options)):
            check_frame(frame, f"{path}[{i}]")
            frames.append(frame)
    except UnihubError as err:
        if type(err) is InputError and str(path) not in str(err):
            raise InputError(f"{path}[{len(frames)}]: {err}") from err  # a reader's own refusal, located
        raise
    except PermissionError:
        raise  # the file may be fine: say what the system said, not that it is damaged
    except (ValueError, OSError, KeyError, IndexError, EOFError) as err:
        raise unreadable(path, key, err, len(frames)) from err
    if not frames:
        raise InputError(f"{path} holds no structures (read as {key}); check that it is the file you meant "
                         "and that it was written completely")
    return frames


def unreadable(path: Path, what: str, err: Exception, done: int = 0,
               fix: str = "pass format= with its real format") -> InputError:
    """The error for a file a reader (ours or ASE's) chokes on: the file, how far it got, the likely cause."""
    where = f" after {done} structure(s)" if done else ""
    if isinstance(err, UnicodeDecodeError):
        why = (f"it is not text (byte {err.object[err.start:err.start + 1]!r} at offset {err.start}): a binary or "
               f"compressed file? decompress it, or {fix}")
    else:
        why = f"{type(err).__name__}: {err}; the file is damaged or truncated, or is not {what}: {fix}"
    return InputError(f"{path}: cannot read it as {what}{where}: {why}")


def read_structure(path: str | os.PathLike, index: int | str = -1):
    """One ASE ``Atoms`` (``index``, default the last) from any file ASE reads, errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty; check that it is the file you meant and that it was written completely")
    try:
        atoms = read(path, index=index)
    except UnknownFileTypeError as err:
        raise InputError(f"{path}: ASE cannot tell its format ({err}); use a known extension such as .cif, "
                         ".extxyz, .traj or POSCAR") from err
    except PermissionError:
        raise
    except (ValueError, OSError, KeyError, IndexError, EOFError, StopIteration) as err:
        raise unreadable(path, "a structure file", err, fix="name it with the extension of its real format") from err
    if len(atoms) == 0:
        raise InputError(f"{path} holds no atoms; check that it is the file you meant")
    return atoms


def card_file_of(path: Path) -> tuple[Card, str, dict] | None:
    """(card, reader key, options) when ``path`` holds exactly the bytes of a card's file, else None."""
    size = path.stat().st_size
    candidates = [(c, f) for c in map(load_card, list_cards()) for f in c.files if f.bytes == size]
    if not candidates:
        return None
    digest = sha256_file(path)
    for card, f in candidates:
        if f.sha256 == digest:
            key, opts = card.reader_for(f)
            if key is not None:
                return card, key, opts
    return None


def check_frame(frame: Frame, where: str) -> None:
    """Refuse a frame a potential could not learn from, naming where it came from."""
    try:
        check_structure(frame.numbers, frame.positions, frame.cell, frame.pbc)
    except ValueError as err:
        raise InputError(f"{where}: {err}") from None
    if frame.fidelity not in FIDELITIES or frame.fidelity == "mixed":
        raise InputError(f"{where}: fidelity {frame.fidelity!r} is not one of {FIDELITIES[:-1]}")
    for label in ("energy", "forces", "stress"):
        value = getattr(frame, label)
        if value is not None and not np.isfinite(value).all():
            raise InputError(f"{where}: {label} contains NaN or infinite values")


def load_mp_elemental_energies(data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """{element: eV/atom} from the ``mp_elemental_refs`` card (MP PBE references, 2023-02-07)."""
    card = load_card("mp_elemental_refs")
    return mp_elemental_energies(resolve_file(card, card.files[0], data_dir))
