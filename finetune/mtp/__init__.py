"""Moment Tensor Potential student (Shapeev 2016; MLIP-2 ``.mtp`` conventions).

- :class:`MTPModel` -- ``from_level``, ``calculator()``, ``predict()``, ``save()``, ``load()``
- :func:`fit` / :class:`FitConfig` -- linear least squares, then BFGS on energy/force/stress loss
- :func:`read_mtp` / :func:`write_mtp` / :class:`MTPParams` -- MLIP-2 file I/O
- :func:`make_template` -- level templates generated from the level rule
- :func:`select_active_set` / :func:`extrapolation_grade` -- MaxVol (D-optimality) grade

The compiled kernel (``kernel/mtp_core.hpp``, header-only C++, OpenMP) is built with g++ at first
use into ``$UNIHUB_CACHE/mtp`` (default ``~/.cache/unihub/mtp``), keyed by its source hash.
"""

from .fit import FitConfig, FitResult, fit
from .levels import make_template
from .maxvol import extrapolation_grade, select_active_set
from .model import MTPModel
from .mtpfile import MTPParams, read_mtp, write_mtp

__all__ = ["MTPModel", "fit", "FitConfig", "FitResult", "read_mtp", "write_mtp", "MTPParams", "make_template",
           "select_active_set", "extrapolation_grade"]
