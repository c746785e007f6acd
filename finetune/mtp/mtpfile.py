"""Read and write MLIP-2 ``.mtp`` files (untrained templates and trained potentials).

The writer emits the MLIP-2 layout: ``min_dist``, ``max_dist``, ``radial_basis_size`` and
``radial_funcs_count`` before the ``radial_coeffs`` block. The reader also accepts the newer
``min``/``max``/``size`` keys and ``radial_funcs_count`` after the block.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unihub.foundation.files import atomic_write

from .levels import make_template

_TAG_PREFIX = "elements:"


@dataclass
class MTPParams:
    """Everything a ``.mtp`` file holds. Coefficients are ``None`` in an untrained template."""

    species_count: int
    min_dist: float
    max_dist: float
    radial_basis_size: int
    radial_funcs_count: int
    alpha_index_basic: np.ndarray
    alpha_index_times: np.ndarray
    alpha_moment_mapping: np.ndarray
    alpha_moments_count: int | None = None
    scaling: float | None = None
    radial_coeffs: np.ndarray | None = None  # (species, species, radial_funcs, radial_basis)
    species_coeffs: np.ndarray | None = None
    moment_coeffs: np.ndarray | None = None
    version: str = "1.1.0"
    potential_name: str = "MTP1m"
    potential_tag: str = ""
    radial_basis_type: str = "RBChebyshev"
    elements: list[str] = field(default_factory=list)  # type index -> symbol (kept in potential_tag)

    def __post_init__(self) -> None:
        self.alpha_index_basic = np.asarray(self.alpha_index_basic, dtype=np.int64).reshape(-1, 4)
        self.alpha_index_times = np.asarray(self.alpha_index_times, dtype=np.int64).reshape(-1, 4)
        self.alpha_moment_mapping = np.asarray(self.alpha_moment_mapping, dtype=np.int64).reshape(-1)
        if self.alpha_moments_count is None:
            n = len(self.alpha_index_basic)
            if len(self.alpha_index_times):
                n = max(n, int(self.alpha_index_times[:, 3].max()) + 1)
            self.alpha_moments_count = n
        if not self.elements and self.potential_tag.startswith(_TAG_PREFIX):
            self.elements = [s for s in self.potential_tag[len(_TAG_PREFIX):].split(",") if s]
        if self.elements and len(self.elements) != self.species_count:
            raise ValueError(f"{len(self.elements)} elements given for species_count={self.species_count}")

    @property
    def trained(self) -> bool:
        return self.radial_coeffs is not None and self.moment_coeffs is not None

    @property
    def n_scalar(self) -> int:
        return len(self.alpha_moment_mapping)

    @classmethod
    def from_level(cls, level: int, species_count: int, min_dist: float, max_dist: float,
                   radial_basis_size: int = 8, elements: list[str] | None = None) -> MTPParams:
        """An untrained potential built from the generated template of ``level``."""
        t = make_template(level)
        return cls(species_count=species_count, min_dist=float(min_dist), max_dist=float(max_dist),
                   radial_basis_size=radial_basis_size, radial_funcs_count=t.radial_funcs_count,
                   alpha_index_basic=t.alpha_index_basic, alpha_index_times=t.alpha_index_times,
                   alpha_moment_mapping=t.alpha_moment_mapping, elements=list(elements or []))

    def initialized(self, seed: int = 0) -> MTPParams:
        """A copy with MLIP-like random radial coefficients and zero linear coefficients."""
        rng = np.random.default_rng(seed)
        s, f, b = self.species_count, self.radial_funcs_count, self.radial_basis_size
        out = self.copy()
        out.scaling = 1.0 if self.scaling is None else self.scaling
        # radial function mu starts as Chebyshev polynomial mu (times the cutoff), so the first
        # linear solve sees distinct radial channels instead of near-copies of one
        rc = rng.uniform(-0.01, 0.01, (s, s, f, b))
        for mu in range(f):
            rc[:, :, mu, mu % b] += 1.0
        out.radial_coeffs = rc
        out.species_coeffs = np.zeros(s)
        out.moment_coeffs = np.zeros(self.n_scalar)
        return out

    def copy(self) -> MTPParams:
        def c(x):
            return None if x is None else np.array(x, copy=True)

        return MTPParams(self.species_count, self.min_dist, self.max_dist, self.radial_basis_size,
                         self.radial_funcs_count, self.alpha_index_basic.copy(),
                         self.alpha_index_times.copy(), self.alpha_moment_mapping.copy(),
                         self.alpha_moments_count, self.scaling, c(self.radial_coeffs),
                         c(self.species_coeffs), c(self.moment_coeffs), self.version,
                         self.potential_name, self.potential_tag, self.radial_basis_type,
                         list(self.elements))


def _num(x: float) -> str:
    """Shortest exact text of a float, integral values without '.0' (as MLIP's templates)."""
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def _coef(x: float) -> str:
    return f"{float(x):.16e}"  # 17 significant digits: exact round trip of a double


def _ints(rows: np.ndarray) -> str:
    return "{" + ", ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in rows) + "}"


def _vec(v, fmt=_coef) -> str:
    return "{" + ", ".join(fmt(x) for x in v) + "}"


def dumps(p: MTPParams) -> str:
    """The text of a ``.mtp`` file in the MLIP-2 layout."""
    tag = p.potential_tag
    if p.elements:
        tag = _TAG_PREFIX + ",".join(p.elements)
    lines = ["MTP", f"version = {p.version}", f"potential_name = {p.potential_name}"]
    if p.scaling is not None:
        lines.append(f"scaling = {_coef(p.scaling)}")
    lines += [f"species_count = {p.species_count}", f"potential_tag = {tag}",
              f"radial_basis_type = {p.radial_basis_type}",
              f"\tmin_dist = {_num(p.min_dist)}", f"\tmax_dist = {_num(p.max_dist)}",
              f"\tradial_basis_size = {p.radial_basis_size}",
              f"\tradial_funcs_count = {p.radial_funcs_count}"]
    if p.radial_coeffs is not None:
        lines.append("\tradial_coeffs")
        for a in range(p.species_count):
            for b in range(p.species_count):
                lines.append(f"\t\t{a}-{b}")
                lines += ["\t\t\t" + _vec(row) for row in p.radial_coeffs[a, b]]
    lines += [f"alpha_moments_count = {p.alpha_moments_count}",
              f"alpha_index_basic_count = {len(p.alpha_index_basic)}",
              f"alpha_index_basic = {_ints(p.alpha_index_basic)}",
              f"alpha_index_times_count = {len(p.alpha_index_times)}",
              f"alpha_index_times = {_ints(p.alpha_index_times)}",
              f"alpha_scalar_moments = {p.n_scalar}",
              f"alpha_moment_mapping = {_vec(p.alpha_moment_mapping, str)}"]
    if p.species_coeffs is not None:
        lines.append(f"species_coeffs = {_vec(p.species_coeffs)}")
    if p.moment_coeffs is not None:
        lines.append(f"moment_coeffs = {_vec(p.moment_coeffs)}")
    return "\n".join(lines) + "\n"


def write_mtp(path: str | os.PathLike, p: MTPParams) -> None:
    """Write atomically (``foundation.files.atomic_write``: temp file in the same folder, then rename)."""
    text = dumps(p)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline="\n"))


def _floats(text: str) -> np.ndarray:
    return np.array([float(x) for x in re.findall(r"[-+0-9.eEnaif]+", text) if x.strip()], dtype=float)


def _int_rows(text: str) -> np.ndarray:
    nums = [int(x) for x in re.findall(r"-?\d+", text)]
    return np.array(nums, dtype=np.int64).reshape(-1, 4)


def loads(text: str) -> MTPParams:
    """Parse the text of a ``.mtp`` file."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "MTP":
        raise ValueError("not an MTP file: the first line must be 'MTP'")
    kv: dict[str, str] = {}
    radial_rows: list[np.ndarray] = []
    i = 1
    while i < len(lines):
        s = lines[i].strip()
        i += 1
        if not s:
            continue
        if s == "radial_coeffs":
            while i < len(lines) and not ("=" in lines[i] or lines[i].strip() == ""):
                t = lines[i].strip()
                i += 1
                if t.startswith("{"):
                    radial_rows.append(_floats(t))
            continue
        if "=" not in s:
            raise ValueError(f"cannot parse .mtp line {i}: {s!r}")
        k, v = (x.strip() for x in s.split("=", 1))
        kv[k] = v
    if "magnetic_basis_type" in kv:
        raise ValueError("magnetic MTP files are not supported")
    alias = {"min": "min_dist", "max": "max_dist", "size": "radial_basis_size",
             "min_val": "min_dist", "max_val": "max_dist", "basis_size": "radial_basis_size"}
    for old, new in alias.items():
        if old in kv and new not in kv:
            kv[new] = kv.pop(old)
    try:
        ns = int(kv["species_count"])
        nf = int(kv["radial_funcs_count"])
        nb = int(kv["radial_basis_size"])
        p = MTPParams(
            species_count=ns, min_dist=float(kv["min_dist"]), max_dist=float(kv["max_dist"]),
            radial_basis_size=nb, radial_funcs_count=nf,
            alpha_index_basic=_int_rows(kv["alpha_index_basic"]),
            alpha_index_times=_int_rows(kv["alpha_index_times"]),
            alpha_moment_mapping=np.array([int(x) for x in re.findall(r"-?\d+", kv["alpha_moment_mapping"])]),
            alpha_moments_count=int(kv["alpha_moments_count"]),
            scaling=float(kv["scaling"]) if "scaling" in kv else None,
            version=kv.get("version", "1.1.0"), potential_name=kv.get("potential_name", "MTP1m"),
            potential_tag=kv.get("potential_tag", ""),
            radial_basis_type=kv.get("radial_basis_type", "RBChebyshev"),
        )
    except KeyError as e:
        raise ValueError(f".mtp file lacks the field {e.args[0]!r}") from None
    if p.radial_basis_type != "RBChebyshev":
        raise ValueError(f"unsupported radial_basis_type {p.radial_basis_type!r} (only RBChebyshev)")
    if radial_rows:
        rc = np.array(radial_rows)
        if rc.shape != (ns * ns * nf, nb):
            raise ValueError(f"radial_coeffs has shape {rc.shape}, expected {(ns * ns * nf, nb)}")
        p.radial_coeffs = rc.reshape(ns, ns, nf, nb)
        if p.scaling is None:
            p.scaling = 1.0
    if "species_coeffs" in kv:
        p.species_coeffs = _floats(kv["species_coeffs"])
    if "moment_coeffs" in kv:
        p.moment_coeffs = _floats(kv["moment_coeffs"])
    _check(p)
    return p


def _check(p: MTPParams) -> None:
    if int(p.alpha_index_basic[:, 0].max(initial=0)) >= p.radial_funcs_count:
        raise ValueError("alpha_index_basic uses a radial function beyond radial_funcs_count")
    if len(p.alpha_index_times) and int(p.alpha_index_times[:, 3].max()) >= p.alpha_moments_count:
        raise ValueError("alpha_index_times writes beyond alpha_moments_count")
    if p.moment_coeffs is not None and len(p.moment_coeffs) != p.n_scalar:
        raise ValueError(f"{len(p.moment_coeffs)} moment_coeffs for {p.n_scalar} scalar moments")
    if p.species_coeffs is not None and len(p.species_coeffs) != p.species_count:
        raise ValueError(f"{len(p.species_coeffs)} species_coeffs for species_count={p.species_count}")


def read_mtp(path: str | os.PathLike) -> MTPParams:
    """Read a ``.mtp`` file."""
    return loads(Path(path).read_text(encoding="utf-8"))
