"""FitSNAP JSON: ``#`` comment lines, then ``{"Dataset": {unit styles, "Data": [...]}}``; one group per folder."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from unihub.foundation.errors import InputError

from ..frame import Frame
from ..units import stress_to_ase
from ._common import to_numbers

_INT = re.compile(r"\d+")
# Only these unit styles are read as-is; anything else is refused rather than silently misread.
_EXPECTED = {"EnergyStyle": "electronvolt", "ForcesStyle": "electronvoltperangstrom",
             "LatticeStyle": "angstrom", "PositionsStyle": "angstrom"}


def read_fitsnap_json(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of a FitSNAP ``JSON.tar.gz`` (members ``JSON/<group>/<name>.json``) or of one JSON file.

    Stress is 3x3, pressure-positive, in the file's ``StressStyle`` unless options say otherwise:
    ``stress_unit`` (all groups), ``stress_unit_by_group`` ({group: unit}) and ``drop_stress_groups``
    (groups whose stress unit cannot be trusted). An all-zero stress is a placeholder, read as missing.
    The FitSNAP group is ``info['fitsnap_group']``; the split group is the same folder unless
    ``group_block: n``: a few folders hold most frames, so whole-folder groups leave some datasets
    with no val/test at all. Blocks are then runs of n consecutive numbers within one file series
    (``WBeB2_MD300K_123`` -> ``DFT_MD_300K/WBeB2_MD300K_#/6`` for n = 20), so neighbouring MD
    snapshots and EOS points stay together whatever order the archive lists them in.
    """
    block = options.get("group_block")
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            for m in tf:
                if m.isfile() and m.name.endswith(".json"):
                    rel = PurePosixPath(m.name)
                    folder = rel.parent.name
                    yield from _frames(tf.extractfile(m).read().decode("utf-8"), folder, rel.stem, options,
                                       f"{path}:{m.name}", _block(folder, rel.stem, block) if block else folder)
    else:
        yield from _frames(Path(path).read_text(encoding="utf-8"), path.parent.name, path.stem, options, str(path))


def _block(folder: str, stem: str, n: int) -> str:
    numbers = list(_INT.finditer(stem))
    if not numbers:
        return f"{folder}/{stem}"
    last = numbers[-1]
    series = stem[:last.start()] + "#" + stem[last.end():]
    return f"{folder}/{series}/{int(last.group()) // n}"


def _frames(text: str, group: str, name: str, options: Mapping[str, Any], where: str,
            split_group: str | None = None) -> Iterator[Frame]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    ds = json.loads(body)["Dataset"]
    for key, want in _EXPECTED.items():
        if ds.get(key, want) != want:
            raise InputError(f"{where}: {key} is {ds[key]!r}; only {want!r} is supported")
    unit = options.get("stress_unit_by_group", {}).get(group) or options.get("stress_unit") or ds.get("StressStyle")
    keep_stress = group not in options.get("drop_stress_groups", ())
    for k, rec in enumerate(ds["Data"]):
        stress = np.asarray(rec["Stress"], dtype=float) if keep_stress and "Stress" in rec else None
        if stress is not None and not stress.any():
            stress = None
        info = {"file": name, "fitsnap_group": group}
        if k:
            info["index"] = k
        if "Spins" in rec:
            info["spins"] = np.asarray(rec["Spins"], dtype=float)
        yield Frame(
            to_numbers(rec["AtomTypes"]), rec["Positions"], rec["Lattice"], True,
            energy=rec["Energy"], forces=rec.get("Forces"),
            stress=None if stress is None else stress_to_ase(stress, unit, "pressure_positive"),
            fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
            group=split_group or group, info=info,
        )
