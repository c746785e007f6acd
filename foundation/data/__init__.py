"""Data pipeline: dataset cards, verified files, one reader per source format, splits and packing."""

from .cards import Card, CardFile, UnknownCardError, list_cards, load_card
from .datadir import ChecksumError, MissingDataError, data_root, resolve_file
from .datasets import iter_dataset, load_dataset, load_mp_elemental_energies, read_frames, read_structure
from .frame import Frame, voigt6_to_3x3
from .pack import PackedMix, pack_mix
from .readers import READERS, mp_elemental_energies
from .splits import assign_split

__all__ = [
    "READERS", "Card", "CardFile", "ChecksumError", "Frame", "MissingDataError", "PackedMix",
    "UnknownCardError", "assign_split", "data_root", "iter_dataset", "list_cards", "load_card",
    "load_dataset", "load_mp_elemental_energies", "mp_elemental_energies", "pack_mix", "read_frames",
    "read_structure", "resolve_file", "voigt6_to_3x3",
]
