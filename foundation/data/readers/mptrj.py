"""MPtrj (CHGNet's Materials Project trajectories): ``{mp_id: {frame_id: {structure, energies, force, stress, ...}}}``.

The full file is ~11 GB of JSON, so it is streamed one ``mp_id`` block at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ..frame import Frame
from ..units import stress_to_ase
from ._common import open_text, pymatgen_arrays

_DELIMITERS = frozenset(" \t\r\n,:]}")
_LABELS = ("structure", "force", "stress", "uncorrected_total_energy")


def read_mptrj(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of an MPtrj-layout JSON(.gz); the group is the mp_id, so a relaxation stays in one split.

    Energy is ``uncorrected_total_energy`` (raw DFT, eV per cell; the MP2020-corrected value goes to
    ``info``). ``stress`` is a 3x3 in kbar with VASP's sign (compression positive), as written by
    CHGNet's parser; converted to eV/Å³ with ASE's sign. Options: ``energy_key``, ``fidelity``.
    """
    ekey = options.get("energy_key", "uncorrected_total_energy")
    with open_text(path) as f:
        for mp_id, frames in iter_object_items(f):
            for frame_id, d in frames.items():
                numbers, positions, cell, pbc = pymatgen_arrays(d["structure"])
                stress = d.get("stress")
                info = {k: v for k, v in d.items() if k not in _LABELS and k != ekey}
                info["frame_id"] = frame_id
                yield Frame(
                    numbers, positions, cell, pbc, energy=d.get(ekey), forces=d.get("force"),
                    stress=None if stress is None else stress_to_ase(stress, "kbar", "pressure_positive"),
                    fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
                    group=str(d.get("mp_id", mp_id)), info=info,
                )


def iter_object_items(f: IO[str], chunk: int = 1 << 22) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of a top-level JSON object, parsing one value at a time."""
    dec = json.JSONDecoder()
    buf, pos, eof = "", 0, False

    def more() -> None:
        nonlocal buf, pos, eof
        data = f.read(chunk)
        eof = not data
        buf, pos = buf[pos:] + data, 0

    def skip_ws() -> None:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or eof:
                return
            more()

    def decode() -> Any:
        nonlocal pos
        while True:
            try:
                value, end = dec.raw_decode(buf, pos)
            except json.JSONDecodeError:
                if eof:
                    raise
                more()
                continue
            if not eof and (end == len(buf) or buf[end] not in _DELIMITERS):  # '-1.' of '-1.5'
                more()
                continue
            pos = end
            return value

    more()
    skip_ws()
    if buf[pos:pos + 1] != "{":
        raise ValueError("expected a JSON object at the top level")
    pos += 1
    while True:
        skip_ws()
        if buf[pos:pos + 1] == "}":
            return
        if buf[pos:pos + 1] == ",":
            pos += 1
            skip_ws()
        key = decode()
        skip_ws()
        if buf[pos:pos + 1] != ":":
            raise ValueError(f"malformed JSON object near {buf[pos:pos + 40]!r}")
        pos += 1
        skip_ws()
        yield key, decode()
