"""The reader table: one reader per source format, each ``reader(path, options) -> Iterator[Frame]``.

Every reader converts at the door (eV total per cell, Å, eV/Å, eV/Å³ with ASE's sign). ``options``
is a plain mapping: the keys each reader understands are in its docstring; ``dataset`` and
``fidelity`` are common to all.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from unihub.foundation.errors import InputError

from ..frame import Frame
from ._common import open_text
from .acwf import read_acwf
from .alignn import read_alignn_id_prop
from .ase_db import read_ase_db
from .ase_traj import read_ase_traj
from .diatomics import read_diatomics
from .extxyz import read_extxyz
from .fitsnap import read_fitsnap_json
from .jarvis_vacancy import read_jarvis_vacancy
from .matcalc_bench import read_matcalc_bench
from .matpes import read_matpes_refs
from .mlearn_json import read_mlearn_json
from .mp_refs import mp_elemental_energies
from .mptrj import read_mptrj

Reader = Callable[[Path, Mapping[str, Any]], Iterator[Frame]]

READERS: dict[str, Reader] = {
    "extxyz": read_extxyz,
    "ase_traj": read_ase_traj,
    "ase_db": read_ase_db,
    "mlearn_json": read_mlearn_json,
    "alignn_id_prop": read_alignn_id_prop,
    "fitsnap_json": read_fitsnap_json,
    "matpes_refs": read_matpes_refs,
    "diatomics": read_diatomics,
    "mptrj": read_mptrj,
    "matcalc_bench": read_matcalc_bench,
    "jarvis_vacancy": read_jarvis_vacancy,
    "acwf": read_acwf,
}

# JSON layouts told apart by keys only they use, looked for in the file's first MiB, in this order.
_OBJECT_MARKERS = (
    ('"uncorrected_total_energy"', "mptrj"),
    ('"eos_data"', "acwf"),
    ('"BM_fit_data"', "acwf"),
    ('"Dataset"', "fitsnap_json"),
    ('"distances"', "diatomics"),
)
_LIST_MARKERS = (
    ('"bulk_atoms"', "jarvis_vacancy"),
    ('"total_energy"', "alignn_id_prop"),
    ('"outputs"', "mlearn_json"),
    ('"structure"', "matcalc_bench"),
)
_ELEMENT_KEYED = re.compile(r'^\{\s*"[A-Z][a-z]?"\s*:\s*\{')


def guess_format(path: Path) -> str:
    """Reader key for a user file, from its extension and, for JSON, the keys near its start."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if name.endswith(".traj"):
        return "ase_traj"
    if name.endswith(".db"):
        return "ase_db"
    if name.endswith((".tar.gz", ".tgz")) and tarfile.is_tarfile(path):
        return "fitsnap_json"
    if name.endswith((".json", ".json.gz")):
        with open_text(path) as f:
            head = f.read(1 << 20).lstrip()
        if head.startswith("#"):
            return "fitsnap_json"  # FitSNAP files open with comment lines
        for marker, key in _LIST_MARKERS if head.startswith("[") else _OBJECT_MARKERS:
            if marker in head:
                return key
        if _ELEMENT_KEYED.match(head):
            return "matpes_refs"
        raise InputError(f"{path}: cannot tell which JSON layout this is; pass format= one of {sorted(READERS)}")
    raise InputError(f"{path}: unknown file type; pass format= one of {sorted(READERS)}")


__all__ = ["READERS", "Reader", "guess_format", "mp_elemental_energies"]
