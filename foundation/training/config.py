"""Training configuration: one YAML file, mapped onto small dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from unihub.foundation.configfile import from_mapping, read_mapping
from unihub.foundation.model.config import ModelConfig


@dataclass
class DataConfig:
    datasets: list[str] = field(default_factory=list)  # data-card names, packed into the cache
    pack: str | None = None  # an existing pack directory instead of ``datasets``
    # user files: paths, or {path, format, fidelity, ...reader options}; split by group hash
    files: list = field(default_factory=list)
    # shift each (dataset, fidelity)'s energies onto its head's reference (see training/references.py)
    align_energies: bool = True
    # head → dataset whose per-element offsets define the head's energy zero
    energy_anchors: dict[str, str] = field(default_factory=dict)
    # datasets whose labels already sit on their head's zero (diatomics: computed with MatPES settings,
    # their 6 Å limit matches MatPES isolated atoms to 29 meV median): never shifted, never set references
    unaligned: list[str] = field(default_factory=list)
    # {dataset: {fidelity: head}}: those frames' forces also train another head, without their energies or
    # stresses (their absolute scale belongs to their own head); for labels that reach where a head's own data
    # never go, e.g. PBE dimer curves at short contacts for the mptrj head (MPtrj is PBE/PBE+U too)
    forces_also_on: dict[str, dict[str, str]] = field(default_factory=dict)
    # one cap for every dataset, or {name: cap, default: cap} (a null cap keeps all of a dataset)
    max_frames_per_dataset: int | dict | None = None
    batch_size: int = 16
    val_batch_size: int = 32
    num_workers: int = 0


@dataclass
class LossConfig:
    energy: float = 1.0  # weight of energy per atom (eV/atom)
    forces: float = 10.0  # weight of force components (eV/Å)
    stress: float = 10.0  # weight of stress components (eV/Å³)
    # one Huber delta, or one per property ({energy: eV/atom, forces: eV/Å, stress: eV/Å³})
    huber_delta: float | dict = 0.01
    fidelity_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    min_lr_factor: float = 0.02
    ema_decay: float = 0.99
    grad_clip: float = 10.0


@dataclass
class TrainerConfig:
    max_epochs: int = 10
    max_steps: int = -1
    max_time: str | None = None  # "DD:HH:MM:SS"; stops cleanly and saves
    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    checkpoint_every_n_steps: int | None = None
    # stop once the validation loss (of the EMA weights) has not improved for this many validations, and
    # export the best weights rather than the last (None: run to max_epochs/max_steps, export the last)
    early_stopping_patience: int | None = None
    progress: bool = True
    # torch threads per process; 1 is much faster when cores are shared with loader workers or other
    # jobs (OpenMP barriers stall on descheduled threads: measured 0.6 s vs 4.0 s per step on 2 busy cores)
    threads: int | None = None


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output: str = "runs/default"
    seed: int = 0
    # a model directory whose network weights start this run (multi-stage training); the reference
    # energies are refitted on this run's data
    init_from: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return from_mapping(cls, d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """The config in a YAML file; a missing, unparsable or non-mapping file is refused by name."""
        return cls.from_dict(read_mapping(path, "training config", "see foundation/configs/",
                                         "model, data, loss, optim, trainer"))

    def to_dict(self) -> dict:
        return asdict(self)
