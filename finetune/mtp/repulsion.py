"""A short-range repulsive core under an MTP student.

An MTP's radial functions are polynomials fitted over the distances its training frames contain; two atoms pushed
closer than any training pair of their species meet an extrapolated polynomial, which can attract, and hot MD then
collapses a pair and blows up. The core is the Ziegler-Biersack-Littmark (ZBL) screened nuclear repulsion,
switched smoothly to zero (C2 polynomial) over ``[r_in, r_out]`` per species pair, with ``r_out`` the pair's
shortest distance in the training frames: every trained configuration keeps its energy exactly, and shorter
distances meet a wall. A wall alone does not hold against a polynomial that plunges by hundreds of eV, so the
MTP's radial functions are also floored at ``r_out`` (``kernel/mtp_core.hpp floored``): below it a pair's
radial functions see a distance saturating ``floor_width`` under ``r_out``, and the MTP no longer extrapolates.

The student's ``x.mtp`` stays a plain MLIP-2 file; the core is the LAMMPS ``pair_style table`` file
``x.core.table`` beside it, added to the MTP with ``pair_style hybrid/overlay``. Its comment lines carry the
parameters, so the file alone rebuilds the core in Python.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

from unihub.foundation.files import atomic_write
from unihub.foundation.zbl import COEFFICIENTS, COULOMB, DECAYS, screening_length

_ZBL_C, _ZBL_D = np.array(COEFFICIENTS), np.array(DECAYS)
SUFFIX = ".core.table"
TABLE_POINTS = 2000
TABLE_R_LO = 0.1  # Å: LAMMPS stops a run with a pair nearer than a table's first point


def zbl(z1: np.ndarray, z2: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ZBL pair energy (eV) and its derivative dE/dr (eV/Å) at distances ``r`` (Å)."""
    a = screening_length(np.asarray(z1, float), np.asarray(z2, float))
    x = (r / a)[..., None]
    ex = np.exp(-_ZBL_D * x)
    phi, dphi = (_ZBL_C * ex).sum(-1), -(_ZBL_C * _ZBL_D * ex).sum(-1)
    k = COULOMB * z1 * z2
    e = k * phi / r
    return e, -e / r + k * dphi / (a * r)


def switch(r: np.ndarray, r_in: np.ndarray, r_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 below ``r_in``, 0 above ``r_out``, C2 in between: value and d/dr."""
    width = r_out - r_in
    t = np.clip((r - r_in) / width, 0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t**2), -30.0 * t**2 * (1.0 - t) ** 2 / width


def core_path(mtp_path: str | os.PathLike) -> Path:
    """The core table beside a ``.mtp`` file: ``x.mtp`` -> ``x.core.table``."""
    p = Path(mtp_path)
    return p.with_name((p.name[:-4] if p.name.endswith(".mtp") else p.name) + SUFFIX)


@dataclass(frozen=True)
class CoreRepulsion:
    """ZBL switched off over ``[r_in[i, j], r_out[i, j]]`` (Å) between species ``elements[i]`` and ``elements[j]``."""

    elements: tuple[str, ...]
    r_in: np.ndarray
    r_out: np.ndarray
    floor_width: float = 0.1  # Å: the MTP's radial functions see no distance under r_out - floor_width

    def __post_init__(self) -> None:
        n = len(self.elements)
        for name in ("r_in", "r_out"):
            m = np.asarray(getattr(self, name), float)
            if m.shape != (n, n) or not np.allclose(m, m.T) or not np.isfinite(m).all():
                raise ValueError(f"{name} must be a finite symmetric {n}x{n} matrix of distances")
        if not (np.asarray(self.r_in) > 0).all() or not (np.asarray(self.r_out) > np.asarray(self.r_in)).all():
            raise ValueError("every pair needs 0 < r_in < r_out")
        if not self.floor_width > 0:
            raise ValueError(f"floor_width must be > 0 Å, got {self.floor_width}")

    @classmethod
    def from_structures(cls, structures: Sequence, elements: Sequence[str], r_max: float,
                        width: float = 0.5) -> CoreRepulsion:
        """``r_out`` per pair: its shortest distance in ``structures`` (ASE Atoms), at most ``r_max``; ``r_in``
        ``width`` below it (at least half of ``r_out``)."""
        if width <= 0:
            raise ValueError(f"core width must be > 0 Å, got {width}")
        index = {atomic_numbers[s]: k for k, s in enumerate(elements)}
        r_out = np.full((len(elements),) * 2, float(r_max))
        for a in structures:
            i, j, d = neighbor_list("ijd", a, r_max)
            ti = np.array([index[z] for z in a.numbers])
            np.minimum.at(r_out, (ti[i], ti[j]), d)
        r_out = np.floor(np.minimum(r_out, r_out.T) * 1e4) / 1e4  # floored: never above a training pair
        return cls(tuple(elements), np.maximum(r_out - width, 0.5 * r_out), r_out)

    @property
    def cutoff(self) -> float:
        return float(np.max(self.r_out))

    def pair_energy(self, ti: np.ndarray, tj: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energy and dE/dr of pairs of species indices ``ti``, ``tj`` at distances ``r``."""
        z = np.array([atomic_numbers[s] for s in self.elements], float)
        r_in, r_out = np.asarray(self.r_in)[ti, tj], np.asarray(self.r_out)[ti, tj]
        e, de = zbl(z[ti], z[tj], r)
        s, ds = switch(r, r_in, r_out)
        inside = r < r_out
        return np.where(inside, e * s, 0.0), np.where(inside, de * s + e * ds, 0.0)

    def compute(self, atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(per-atom energies eV (half of each pair to either atom), forces eV/Å, stress 3x3 eV/Å³ in ASE's sign
        or None unless periodic in 3D) of ``atoms``."""
        index = {atomic_numbers[s]: k for k, s in enumerate(self.elements)}
        try:
            types = np.array([index[z] for z in atoms.numbers], dtype=int)
        except KeyError as e:
            raise ValueError(f"element Z={e.args[0]} is not in this core (elements {list(self.elements)})") from None
        i, j, d, vec = neighbor_list("ijdD", atoms, self.cutoff)
        e, de = self.pair_energy(types[i], types[j], d)
        energies, forces = np.zeros(len(atoms)), np.zeros((len(atoms), 3))
        np.add.at(energies, i, 0.5 * e)
        g = (de / np.where(d > 0, d, 1.0))[:, None] * vec  # each ordered pair: dE/dr along r_j - r_i
        np.add.at(forces, i, g)
        stress = None
        if np.all(atoms.pbc):
            stress = 0.5 * np.einsum("pa,pb->ab", vec, g) / atoms.get_volume()
        return energies, forces, stress

    def write_table(self, path: str | os.PathLike, points: int = TABLE_POINTS) -> None:
        """The LAMMPS ``pair_style table`` file (one section ``A-B`` per pair, energy and force from
        ``TABLE_R_LO`` to ``r_out``), parameters on comment lines; written atomically."""
        lines = ["# unihub MTP core repulsion: ZBL switched to zero over [r_in, r_out] (Å) per species pair",
                 f"# elements: {' '.join(self.elements)}", f"# floor_width: {self.floor_width!r}"]
        for a, b in self.pairs():
            r_in, r_out = float(self.r_in[a, b]), float(self.r_out[a, b])
            r = np.linspace(TABLE_R_LO, r_out, points)
            e, de = self.pair_energy(np.full(points, a), np.full(points, b), r)
            e[-1] = de[-1] = 0.0
            lines += ["", f"# pair {self.section(a, b)} r_in {r_in!r} r_out {r_out!r}", self.section(a, b),
                      f"N {points} R {TABLE_R_LO!r} {r_out!r}", ""]
            lines += [f"{k + 1} {r[k]:.17g} {e[k]:.17g} {-de[k]:.17g}" for k in range(points)]
        atomic_write(path, lambda p: Path(p).write_text("\n".join(lines) + "\n"))

    @classmethod
    def read_table(cls, path: str | os.PathLike) -> CoreRepulsion:
        """The core a :meth:`write_table` file describes."""
        text = Path(path).read_text()
        m = re.search(r"^# elements: (.+)$", text, re.M)
        if m is None:
            raise ValueError(f"{path} is not a unihub core table (no '# elements:' line)")
        elements = m.group(1).split()
        n = len(elements)
        r_in, r_out = np.full((n, n), np.nan), np.full((n, n), np.nan)
        for a, b, lo, hi in re.findall(r"^# pair (\S+)-(\S+) r_in (\S+) r_out (\S+)$", text, re.M):
            i, j = elements.index(a), elements.index(b)
            r_in[i, j] = r_in[j, i] = float(lo)
            r_out[i, j] = r_out[j, i] = float(hi)
        if np.isnan(r_out).any():
            raise ValueError(f"{path} lacks the parameters of some species pairs")
        w = re.search(r"^# floor_width: (\S+)$", text, re.M)
        if w is None:
            raise ValueError(f"{path} has no '# floor_width:' line")
        return cls(tuple(elements), r_in, r_out, float(w.group(1)))

    def pairs(self) -> list[tuple[int, int]]:
        return [(a, b) for a in range(len(self.elements)) for b in range(a, len(self.elements))]

    def section(self, a: int, b: int) -> str:
        return f"{self.elements[a]}-{self.elements[b]}"

    def pair_commands(self, table: str | os.PathLike, types: Sequence[str]) -> list[str]:
        """``pair_coeff`` lines of the ``table`` sub-style for LAMMPS types named ``types`` (1, 2, ...; NULL: a type
        the student leaves out)."""
        unknown = sorted(set(types) - set(self.elements) - {"NULL"})
        if unknown:
            raise ValueError(f"elements {unknown} are not in the core table (it has {list(self.elements)})")
        table = Path(table).resolve()
        out = []
        for ti, si in enumerate(types, 1):
            for tj, sj in enumerate(types[ti - 1:], ti):
                if "NULL" in (si, sj):
                    continue
                a, b = sorted((self.elements.index(si), self.elements.index(sj)))
                out.append(f'pair_coeff {ti} {tj} table "{table}" {self.section(a, b)} {float(self.r_out[a, b])!r}')
        return out
