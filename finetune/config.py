"""``FinetuneConfig``: every setting of a fine-tune run, one YAML file (``unihub finetune --config``).

The run's inputs (base model, data, test frames, pretraining frames) and its output folder are arguments
of ``finetune``, not settings. Nested fields keep the flat keyword names ``finetune`` always took
(``replay_ratio`` is ``replay.ratio``, ``ewc_frames`` is ``ewc.frames``, ``lr_factors`` is ``freeze.lr_factors``).

Example (``FinetuneConfig(head="new", replay=ReplaySettings(frames=2000, ratio=0.5)).to_yaml()``, abridged)::

    head: new
    new_head_name: finetune
    init_head: null
    e0: estimate
    freeze:
      stages: null
      lr_factors: null
    replay:
      frames: 2000
      ratio: 0.5
      select: random
      filter: combinations
      pseudolabel: false
      fidelity: any
    ewc:
      weight: 0.0
      frames: 64
    epochs: 30
    ...
    threads: 1
    progress: false
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unihub.foundation.configfile import YamlConfig


@dataclass
class FreezeSettings:
    # stages (see ``unihub.finetune.freeze``) kept fixed: "embeddings,interaction:0" or a list of them
    stages: str | list[str] | None = None
    lr_factors: dict[str, float] | None = None  # stage → learning-rate factor


@dataclass
class ReplaySettings:
    frames: int = 0  # pretraining frames in the replay pool (0: no replay)
    ratio: float | None = None  # replay frames per fine-tune frame drawn each epoch (None: the whole pool)
    select: str = "random"  # 'random' | 'fps'
    filter: str = "combinations"  # 'none' | 'combinations' | 'inclusive' | 'exclusive'
    pseudolabel: bool = False  # relabel replay frames of another functional with the base model
    # whose frames: 'any' fidelity, the tuned 'head''s own (a new head's: the head it starts from), or one named
    fidelity: str = "any"


@dataclass
class EWCSettings:
    weight: float = 0.0  # λ of the EWC penalty (0: off)
    frames: int = 64  # pretraining frames of its diagonal Fisher


@dataclass
class FinetuneConfig(YamlConfig):
    """The settings of ``finetune`` (see its docstring for what each does)."""

    _WHAT = "fine-tune config"
    _HINT = "unihub finetune --help lists the settings"

    head: str | None = None  # None: the data's fidelity; an existing head; 'new'
    new_head_name: str = "finetune"
    init_head: str | None = None  # the head a new one starts from (None: the closest by force error)
    e0: str | dict[str, float] = "estimate"  # 'estimate' | 'keep' | {element: eV}
    freeze: FreezeSettings = field(default_factory=FreezeSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    ewc: EWCSettings = field(default_factory=EWCSettings)
    epochs: int = 30
    max_steps: int | None = None
    lr: float = 1e-3
    batch_size: int = 4
    ema_decay: float = 0.99
    # whole groups (relaxation runs) holding this fraction of the training frames validate (0: none held out)
    valid_fraction: float = 0.0
    patience: int | None = None  # stop after this many epochs without a better validation loss; keep the best
    loss: dict[str, float] | None = None  # loss weights over the base's pretraining ones
    seed: int = 0
    eval_pretraining: int = 0  # frames per pretraining validation set for the forgetting numbers (0: skip)
    fidelity: str | None = None  # the data's fidelity label (None: the reader's)
    read_options: dict[str, Any] = field(default_factory=dict)  # reader options of the data and test files
    data_card: str | dict | None = None  # a data card (name, .md path or front matter) declaring the units
    check_units: bool = True
    # how fast and verbosely it runs: not part of what identifies the run
    threads: int | None = 1
    progress: bool = False

    # the flat keyword names of nested fields
    ALIASES = {"freeze": "freeze.stages", "lr_factors": "freeze.lr_factors",
               "replay": "replay.frames", "replay_ratio": "replay.ratio", "replay_select": "replay.select",
               "replay_filter": "replay.filter", "pseudolabel_replay": "replay.pseudolabel",
               "replay_fidelity": "replay.fidelity",
               "ewc": "ewc.weight", "ewc_frames": "ewc.frames"}

