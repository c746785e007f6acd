"""Compile a shared library with the system C++ compiler into a cache, atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def compiler() -> str:
    """The C++ compiler to use: ``$CXX`` or ``g++``."""
    return os.environ.get("CXX", "g++")


def build_shared(args: list[str], target: Path, what: str) -> Path:
    """Run ``compiler() *args -o TMP`` and rename the result onto ``target``.

    The rename is atomic, so a concurrent builder or loader never sees a half-written library.
    """
    cxx = compiler()
    if shutil.which(cxx) is None:
        raise RuntimeError(f"{what} needs a C++17 compiler; '{cxx}' was not found (install g++ or set CXX)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    cmd = [cxx, *args, "-o", tmp]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"building {what} failed:\n{' '.join(cmd)}\n{res.stderr[-4000:]}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
