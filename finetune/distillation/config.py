"""``DistillConfig``: every setting of a distillation, one YAML file (``unihub distill --config``).

The teacher, the user's starting structures, the DFT reference frames and the output are arguments of
``distill``, not settings. Nested fields keep the flat keyword names ``distill`` always took
(``md_steps`` is ``sampling.md_steps``, ``fit_iters`` is ``fit.iters``, ``level`` is ``fit.level``);
``active`` is an ``ActiveConfig`` or false (no active learning).

Example (``DistillConfig(elements=["Si"], active=ActiveConfig(max_rounds=4)).to_yaml()``, abridged)::

    elements:
    - Si
    head: null
    budget: 1500
    sampling:
      temperatures: null
      md_steps: 400
      ...
    fit:
      level: 16
      r_cut: 5.0
      ...
    active:
      threshold: 2.0
      ...
      max_rounds: 4
      ...
    seed: 0
    threads: null
    name: null
    progress: true
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unihub.foundation.configfile import YamlConfig


@dataclass
class ActiveConfig:
    """Settings of the active-learning rounds (see ``unihub.finetune.distillation.active``)."""

    threshold: float = 2.0  # grade above which a snapshot is labelled (MLIP's select threshold)
    stop_grade: float = 10.0  # a run ends above this grade: the student is far outside its data
    steps: int = 1000  # steps per MD run; the stopping rule needs one clean run this long at the top rung
    every: int = 10  # grade a snapshot every this many steps
    max_new: int = 40  # teacher labels per round
    per_run: int = 8  # at most this many labels from one MD run, so one bad run does not fill a round
    max_rounds: int = 8
    fit_iters: int = 150  # BFGS iterations of each refit (warm-started)
    min_distance: float = 1.0  # Å; a run ends when two atoms come closer
    tol: float = 0.02  # MaxVol tolerance of the active set (grade of training rows <= 1 + tol)
    timestep: float = 1.0  # fs
    workers: int | None = None  # parallel student MD runs, one process and thread each (None: distill's cores, else 1)
    engine: str = "ase"  # the student's MD: "ase", or "lammps" (the plugin; runs ~100x longer for the same time)

    def __post_init__(self) -> None:
        if self.engine not in ("ase", "lammps"):
            raise ValueError(f"active.engine must be 'ase' or 'lammps', got {self.engine!r}")


@dataclass
class SamplingSettings:
    # K, one ladder for every MD start; None: each start climbs its own, 0.2-1.25x its melting point
    temperatures: list[float] | None = None
    md_steps: int = 400  # teacher MD steps per temperature
    md_every: int = 20  # a snapshot every this many steps
    rattles: int = 1  # rattled copies of each starting structure
    max_atoms: int = 64  # atoms of the largest cell


@dataclass
class FitSettings:
    level: int = 16  # MTP level
    r_cut: float = 5.0  # Å
    r_min: float | None = None  # Å; None: 0.1 Å below the shortest distance in the labels
    radial_basis_size: int = 8
    iters: int = 300  # BFGS iterations of the first fit
    force_relative: float | None = None  # eV/Å; weigh force errors relatively (see ``mtp.FitConfig``)
    force_weight: float | None = None  # the force term's weight against energies (None: ``mtp.FitConfig``'s)
    core_width: float | None = 0.5  # Å; ZBL core switched off over this width below each pair's shortest
    # distance in the labels (``mtp.repulsion``); None: no core


@dataclass
class DistillConfig(YamlConfig):
    """The settings of ``distill`` (see its docstring for what each does)."""

    _WHAT = "distillation config"
    _HINT = "unihub distill --help lists the settings"

    elements: list[str] | None = None  # None: the elements of the user's structures
    head: str | None = None  # the teacher's fidelity head (None: its default)
    budget: int = 1500  # teacher-labelled configurations at most (sampling and active learning)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    fit: FitSettings = field(default_factory=FitSettings)
    active: ActiveConfig | bool = field(default_factory=ActiveConfig)  # False: no active learning
    seed: int = 0
    threads: int | None = None  # cores: teacher and fit threads, parallel student MD runs
    name: str | None = None  # the student's name (None: elements and level)
    progress: bool = True

    # the flat keyword names of nested fields
    ALIASES = {"temperatures": "sampling.temperatures", "md_steps": "sampling.md_steps",
               "md_every": "sampling.md_every", "rattles": "sampling.rattles", "max_atoms": "sampling.max_atoms",
               "level": "fit.level", "r_cut": "fit.r_cut", "r_min": "fit.r_min",
               "radial_basis_size": "fit.radial_basis_size", "fit_iters": "fit.iters",
               "force_relative": "fit.force_relative", "force_weight": "fit.force_weight",
               "core_width": "fit.core_width"}

