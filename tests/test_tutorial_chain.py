"""The tutorial's commands (finetune/TUTORIAL.md), run as written with toy sizes substituted, so the page cannot rot."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unihub.finetune.mtp.lammps.runtime import unavailable

TUTORIAL = Path(__file__).parents[1] / "finetune" / "TUTORIAL.md"
# (as written, toy size): every pair must match the page, so an edit there cannot silently run full size here
TOY = [
    ("[::14]", "[::120]"),
    ("--replay 2000", "--replay 8"),
    ("--epochs 30", "--epochs 30 --max-steps 4"),
    ("--level 16", "--level 4 --budget 12 --md-steps 20 --fit-iters 20 --rounds 1 --al-steps 20 --refit-iters 10 "
                   "-T 300"),
    ("--al-steps 20000", "--al-steps 20"),
    ("(40, 40, 40)", "(2, 2, 2)"),
    ("--ranks 2", "--ranks 1"),
    ("--steps 100", "--steps 20"),
    ("--threads 2", "--threads 1"),
]


def tutorial_commands(text: str) -> list[str]:
    """The command lines of the page's first ``bash`` block (comments dropped)."""
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, f"{TUTORIAL} has no ```bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def toy(commands: list[str]) -> list[str]:
    """The commands with every full-size setting replaced by its toy value."""
    text = "\n".join(commands)
    for full, small in TOY:
        assert full in text, f"the tutorial no longer contains {full!r}: update TOY in {__file__}"
        text = text.replace(full, small)
    return text.splitlines()


def run(command: str, cwd: Path) -> str:
    """One tutorial line in ``cwd`` with this interpreter (``unihub`` -> ``python -m unihub``); its stdout."""
    argv = shlex.split(command)
    argv = [sys.executable, "-m", "unihub", *argv[1:]] if argv[0] == "unihub" else [sys.executable, *argv[1:]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"{command!r} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def test_toy_substitutions_leave_the_commands_otherwise_unchanged():
    commands = tutorial_commands(TUTORIAL.read_text())
    assert [c.split()[:2] for c in commands] == [c.split()[:2] for c in toy(commands)]
    assert [c.split()[1] for c in commands if c.startswith("unihub")] == ["finetune", "distill", "lammps", "md"]


@pytest.mark.slow
def test_tutorial_chain_at_toy_size(tmp_path):
    from unihub.foundation.data import MissingDataError, load_dataset

    try:
        load_dataset("ymgpo_insertion", split="test")
    except MissingDataError as e:
        pytest.skip(f"the tutorial's example data is missing: {e}")
    commands = toy(tutorial_commands(TUTORIAL.read_text()))
    outputs = {}
    for command in commands:
        if "engine lammps" in command or command.startswith("unihub lammps"):  # md, and distill's active learning
            reason = unavailable()
            if reason is not None:
                pytest.skip(f"fine-tune and distillation ran; LAMMPS steps skipped: {reason}")
        outputs[command] = run(command, tmp_path)
    finetune_out, distill_out, md_out = (next(v for c, v in outputs.items() if c.startswith(f"unihub {s}"))
                                         for s in ("finetune", "distill", "md"))

    # fine-tuning on the example frames lowers the test force error of universal-v2
    before, after = map(float, re.search(r"force MAE on the fine-tune test set ([\d.]+) → ([\d.]+)",
                                         finetune_out).groups())
    assert after < before
    from ase.io import read

    from unihub import load_model

    # the student's folder (x.mtp -> x/) must not land on the fine-tuned teacher's
    assert (tmp_path / "mine-ft" / "model.safetensors").exists() and not (tmp_path / "mine-ft" / "student.mtp").exists()
    mine, student = load_model(str(tmp_path / "mine-ft")), load_model(str(tmp_path / "mine-mtp.mtp"))
    assert type(mine) is not type(student)
    cell = read(tmp_path / "test.extxyz", 0)
    for model in (mine, student):
        pred = model.predict([cell])[0]
        assert np.isfinite(pred["energy"]) and pred["forces"].shape == (len(cell), 3)
    assert re.search(r"student vs teacher \(held-out\): E [\d.]+ meV/atom {2}F [\d.]+ meV/Å", distill_out)
    assert len(read(tmp_path / "big.extxyz")) == 8 * len(read(tmp_path / "test.extxyz", -1))
    assert "final T" in md_out
