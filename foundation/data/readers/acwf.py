"""ACWF verification results: ``eos_data`` E(V) points per system, structures from the sibling xsf tarball."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from ase.io import read

from unihub.foundation.errors import InputError

from ..frame import Frame
from ._common import load_json

_NAME = re.compile(r"results-(?P<set>.+-verification-PBE-v\d+)-(?P<code>.+)\.json$")


def read_acwf(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """Frames of one ``results-<set>-<code>.json``: each EOS point is the reference structure scaled
    isotropically to the point's volume, with that code's energy (eV per cell; absolute values are
    code-specific, only differences within one code mean anything).

    Where a code simulated a multiple (or fraction) of the xsf cell, volume and energy are divided by
    that factor (``info['cell_multiple']``) so every frame is the xsf cell.
    Files without ``eos_data`` (the all-electron averages) yield the structures scaled to the fitted
    ``min_volume`` with no energy; the Birch-Murnaghan fit is in ``info['bm_fit']`` either way.
    ``stress_data`` is ignored: its unit and sign differ between codes.
    Option ``structures``: path of the xsf tarball (default ``xsfs-<set>.tar.gz`` next to the file).
    """
    match = _NAME.search(Path(path).name)
    if not match:
        raise InputError(f"{path}: expected a name like results-<set>-verification-PBE-v1-<code>.json")
    set_name, code = match["set"], match["code"]
    res = load_json(path)
    tarball = Path(options.get("structures") or Path(path).parent / f"xsfs-{set_name}.tar.gz")
    structures = _xsf_cached(str(tarball.resolve()), tarball.stat().st_mtime_ns)
    fits = res.get("BM_fit_data", {})
    natoms = res.get("num_atoms_in_sim_cell", {})
    eos = res.get("eos_data") or {}
    systems = eos if eos else {s: [[fit["min_volume"], None]] for s, fit in fits.items() if fit}
    for system, points in systems.items():
        if not points:
            continue
        base = structures[_structure_key(system)]
        # Some codes ran a multiple of the xsf cell (bigdft: conventional cells; everyone: half of the
        # O-XO and O-X2O5 cells). Energies and volumes are extensive, so rescale them to the xsf cell.
        factor = (natoms.get(system) or len(base)) / len(base)
        if min(abs(factor - round(factor)), abs(1 / factor - round(1 / factor))) > 1e-9:
            raise InputError(f"{path}: {system} ran {natoms[system]} atoms, not a multiple of the xsf's {len(base)}")
        v0 = abs(np.linalg.det(base.cell))
        for k, (volume, energy) in enumerate(points):
            s = (volume / factor / v0) ** (1 / 3)
            yield Frame(base.numbers.copy(), base.positions * s, np.asarray(base.cell) * s, True,
                        energy=None if energy is None else energy / factor,
                        fidelity=options.get("fidelity", "pbe"), dataset=options.get("dataset", ""),
                        group=system, info={"code": code, "set": set_name, "volume": volume, "point": k,
                                            "cell_multiple": factor, "bm_fit": fits.get(system)})


def read_xsf_tarball(path: Path) -> dict:
    """{'<El>-<config>': ase.Atoms} for every ``*.xsf`` member of an ACWF structures tarball."""
    out = {}
    with tarfile.open(path) as tf:
        for m in tf:
            if m.isfile() and m.name.endswith(".xsf"):
                text = tf.extractfile(m).read().decode("utf-8")
                out[PurePosixPath(m.name).stem] = read(io.StringIO(text), format="xsf")
    return out


@lru_cache(maxsize=4)
def _xsf_cached(path: str, _mtime_ns: int) -> dict:
    # Every results file of a set points at the same tarball; parse it once.
    return read_xsf_tarball(Path(path))


def _structure_key(system: str) -> str:
    """'Si-X/Diamond' (unaries) -> 'Si-Diamond'; oxides ('Si-XO2') are already file stems."""
    element, _, rest = system.partition("-")
    return f"{element}-{rest.split('/', 1)[1]}" if "/" in rest else system
