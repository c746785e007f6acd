"""What every benchmark shares: its one JSON record under ``bench/results/``, its YAML configuration,
the mlearn frames several studies train on, the cells and LAMMPS run that time a student, and the
from-scratch baseline of the fine-tuning studies.

A record holds the git SHA, the command line, the machine, the threads, the 1-minute load, the UTC
date, the wall time and the figures; ``bench/render_results.py`` renders ``bench/RESULTS.md`` from them.
Scripts run as ``python bench/NAME.py``, so ``from record import write_record`` finds this file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: importing record.py stays free of ase and torch
    from ase import Atoms

    from unihub.foundation.served import UniversalModel

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CONFIGS = HERE / "configs"
CUBIC_SITES = {"diamond": 8, "fcc": 4, "bcc": 2}  # atoms per conventional cubic cell


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples, paths and non-finite floats made JSON-safe
    (NaN and ±inf become None: JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def git_sha(root: Path = HERE.parent) -> str:
    """Short SHA of HEAD, with ``+dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"], capture_output=True).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def machine() -> str:
    """CPU model (from /proc/cpuinfo where there is one) and core count."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def process_seconds() -> float:
    """Wall seconds since this process started (Linux /proc; 0 where there is none)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def write_record(benchmark: str, figures: dict, threads: int, wall_seconds: float, argv: list[str] | None = None,
                 results: str | os.PathLike = RESULTS) -> Path:
    """Write one run's record to ``results/<benchmark>-<UTC time>-<sha>.json`` (atomically) and return its path.

    ``figures`` are the numbers the run printed, named with their units; ``argv`` defaults to ``sys.argv``.
    """
    from unihub.foundation.files import atomic_write

    argv = list(sys.argv if argv is None else argv)
    now = datetime.now(timezone.utc)
    sha = git_sha()
    rec = {"benchmark": benchmark, "git_sha": sha, "command": " ".join(["python", *argv]),
           "machine": machine(), "threads": int(threads), "load_1min": round(os.getloadavg()[0], 2),
           "date": now.isoformat(timespec="seconds"), "wall_seconds": round(float(wall_seconds), 1),
           "figures": json_safe(figures)}
    path = Path(results) / f"{benchmark}-{now.strftime('%Y%m%dT%H%M%S')}-{sha.split('+')[0]}.json"
    text = json.dumps(rec, indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def load_config(path: str | os.PathLike | None, default: str) -> dict:
    """A study's settings: ``bench/configs/<default>.yaml`` overlaid with the file at ``path``.

    A key the default file lacks is refused, so a misspelt setting fails instead of being ignored.
    """
    import yaml

    base = CONFIGS / f"{default}.yaml"
    cfg = yaml.safe_load(base.read_text()) or {}
    if path is not None and Path(path).resolve() != base.resolve():
        extra = yaml.safe_load(Path(path).read_text()) or {}
        unknown = sorted(set(extra) - set(cfg))
        if unknown:
            raise SystemExit(f"{path}: unknown setting(s) {', '.join(unknown)}; the settings are those of {base}")
        cfg.update(extra)
    return cfg


def cell_of(phase: tuple[str, str, float], target: int) -> Atoms:
    """A rattled cubic supercell of ``phase`` (element, lattice, a in Å) with about ``target`` atoms."""
    from ase.build import bulk

    el, kind, a0 = phase
    reps = max(1, round((target / CUBIC_SITES[kind]) ** (1 / 3)))
    atoms = bulk(el, kind, a=a0, cubic=True) * (reps, reps, reps)
    atoms.rattle(0.01, seed=0)
    return atoms


def lammps_student_cost(mtp_path: str | os.PathLike, phase: tuple, ranks: int = 1, steps: int = 100) -> dict:
    """The student where it runs in production: LAMMPS (pair_style unihub/mtp, ``ranks`` MPI ranks), NVE at
    300 K of ~4096 atoms of ``phase``: wall µs per atom-step, and per core."""
    from unihub.finetune.mtp.lammps import run_md

    loop = run_md(mtp_path, cell_of(phase, 4096), steps, 300.0, ensemble="nve", ranks=ranks, thermo=steps).loop
    return {"ranks": ranks, "atoms": loop.atoms, "steps": loop.steps, "us_per_atom_step": loop.us_per_atom_step,
            "us_per_atom_step_core": loop.us_per_atom_step_core}


# the pretraining recipe's peak learning rate: a random network needs larger steps than a pretrained one
SCRATCH_LR = 3e-3


def train_from_scratch(base, frames: list, steps: int, seed: int, val: list | None = None,
                       patience: int | None = None, lr: float = SCRATCH_LR) -> UniversalModel:
    """The base's architecture trained from random weights on ``frames`` with foundation's ``train``: the
    baseline that fine-tuning is measured against, at the same optimiser-step cap and, with ``patience``, the
    same early-stopping rule as ``finetune`` (the validation loss on ``val``)."""
    from unihub.foundation.training.config import OptimConfig, TrainConfig, TrainerConfig
    from unihub.foundation.training.data import FrameSource
    from unihub.foundation.training.run import train
    from unihub.zoo.models import UniversalModel

    val = list(val or [])
    tmp = Path(tempfile.mkdtemp(prefix="unihub-scratch-"))
    try:
        cfg = TrainConfig(model=copy.deepcopy(base.config), optim=OptimConfig(lr=lr, warmup_steps=10),
                          trainer=TrainerConfig(max_epochs=100000, max_steps=steps, threads=1, progress=False,
                                                early_stopping_patience=patience),
                          output=str(tmp), seed=seed)
        cfg.data.batch_size = 4
        source = FrameSource(list(frames) + val, ["train"] * len(frames) + ["val"] * len(val))
        return UniversalModel.load_dir(train(cfg, source=source))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mlearn_frames(element: str) -> tuple[list, list]:
    """(training frames, test frames) of one mlearn element: the source's training.json and test.json."""
    from ase.data import atomic_numbers

    from unihub.foundation.data import load_dataset

    z = atomic_numbers[element]
    frames = [f for f in load_dataset("mlearn") if set(f.numbers.tolist()) == {z}]
    return [f for f in frames if f.split != "test"], [f for f in frames if f.split == "test"]


def frame_errors_by_group(model, frames) -> dict:
    """:func:`unihub.foundation.metrics.frame_errors` of a hub model on labelled frames, with the force MAE
    also per group of the source (the part of ``Frame.group`` before the first '/')."""
    from unihub.foundation.metrics import frame_errors

    preds = model.predict([f.to_atoms() for f in frames])
    groups: dict[str, list] = {}
    for f, p in zip(frames, preds):
        groups.setdefault(f.group.split("/")[0] or "-", []).append((f, p))
    return {**frame_errors(frames, preds),
            "force_mae_meV_A_by_group": {g: frame_errors(*zip(*fp))["force_mae_meV_A"]
                                         for g, fp in sorted(groups.items())
                                         if any(f.forces is not None for f, _ in fp)}}
