"""kill -9 in the middle of ``unihub finetune``, ``unihub train`` and ``unihub distill``, then the same
command: it resumes (or refuses, naming the flag that resumes), and the result loads and equals an
uninterrupted run where the run is deterministic."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ase.io import write
from safetensors.torch import load_file

from unihub.zoo import load_model

TRAINING = Path(__file__).parents[1] / "training"


def unihub(*args: str, kill_when: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m unihub ARGS``; with ``kill_when``, SIGKILL it as soon as that file exists."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "unihub", *args]
    if kill_when is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while not kill_when.exists():
        assert proc.poll() is None, f"finished before {kill_when.name} appeared: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return subprocess.CompletedProcess(cmd, proc.returncode)


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def same_tensors(a: Path, b: Path) -> None:
    x, y = load_file(str(a)), load_file(str(b))
    assert x.keys() == y.keys()
    for k in x:
        torch.testing.assert_close(x[k], y[k], rtol=0, atol=0, msg=k)


def stamp(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_killed_finetune_resumes_to_the_uninterrupted_result(base, ft_frames, tmp_path):
    base_dir = base.save(tmp_path / "base")
    data = tmp_path / "d.extxyz"
    write(data, [f.to_atoms() for f in ft_frames], format="extxyz")
    args = [str(base_dir), str(data), "--epochs", "12", "--batch-size", "2", "--lr", "5e-3", "--no-check-units",
            "--no-progress"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ok(unihub("finetune", *args, "-o", str(ref)))
    unihub("finetune", *args, "-o", str(killed), kill_when=killed / "run" / "checkpoints" / "epoch001.ckpt")
    assert not (killed / "model.safetensors").exists()
    first = stamp(killed / "run" / "checkpoints" / "epoch000.ckpt")
    # the same command resumes: its manifest matches, so the checkpoint is taken up (a fresh start would
    # rewrite epoch 0's checkpoint and, being deterministic, reach the same weights)
    ok(unihub("finetune", *args, "-o", str(killed)))
    assert stamp(killed / "run" / "checkpoints" / "epoch000.ckpt") == first
    # a checkpoint the kill cut short was a hidden temporary, swept by the resumed run
    assert not [p for p in (killed / "run" / "checkpoints").iterdir() if p.name.startswith(".")]
    same_tensors(ref / "model.safetensors", killed / "model.safetensors")
    assert load_model(killed).extra_config["finetune"]["data_sha256"] == \
        load_model(ref).extra_config["finetune"]["data_sha256"]
    # a killed run on other settings is not taken up: refused with the flags named, nothing touched
    before = digests(killed)
    res = unihub("finetune", *args[:-1], "--seed", "1", "-o", str(killed))
    assert res.returncode == 2 and "seed: 0 → 1" in res.stderr and "--overwrite" in res.stderr
    assert digests(killed) == before


def _train_config(tmp_path: Path, out: Path) -> Path:
    sys.path.insert(0, str(TRAINING))
    from emt_frames import emt_frames

    data = tmp_path / "emt.extxyz"
    if not data.exists():
        write(data, [f.to_atoms() for f in emt_frames()], format="extxyz")
    cfg = tmp_path / f"{out.name}.yaml"
    cfg.write_text(f"""model: {{features: 16, vector_features: 4, layers: 2, cutoff: 4.0}}
data: {{files: ["{data}"], batch_size: 4}}
optim: {{warmup_steps: 5, lr: 0.005}}
trainer: {{max_epochs: 6, progress: false, log_every_n_steps: 1, threads: 1}}
output: "{out}"
seed: 1
""")
    return cfg


@pytest.mark.slow
def test_killed_train_resumes_to_the_uninterrupted_result(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ok(unihub("train", str(_train_config(tmp_path, ref))))
    cfg = _train_config(tmp_path, killed)
    unihub("train", str(cfg), kill_when=killed / "checkpoints" / "epoch001.ckpt")
    assert not (killed / "model").exists()
    first = stamp(killed / "checkpoints" / "epoch000.ckpt")
    ok(unihub("train", str(cfg)))
    assert stamp(killed / "checkpoints" / "epoch000.ckpt") == first  # resumed, not started again
    assert not [p for p in (killed / "checkpoints").iterdir() if p.name.startswith(".")]
    same_tensors(ref / "model" / "model.safetensors", killed / "model" / "model.safetensors")
    from unihub.foundation.model.io import load_potential

    assert load_potential(killed / "model").config.features == 16


@pytest.fixture()
def teacher_dir(tmp_path):
    from unihub.foundation.model.config import ModelConfig
    from unihub.zoo.models import UniversalModel

    torch.manual_seed(0)
    m = UniversalModel(ModelConfig(features=8, vector_features=2, layers=1, n_basis=4, fidelity_dim=2)).double()
    m.name = "tiny"
    with torch.no_grad():
        m.reference_energies[:, 14] = -5.4
    return m.save(tmp_path / "teacher")


@pytest.mark.slow
def test_killed_distill_is_refused_then_resumed_to_the_uninterrupted_result(teacher_dir, tmp_path):
    args = [str(teacher_dir), "--elements", "Si", "--level", "4", "-T", "300", "900", "--md-steps", "10",
            "--fit-iters", "40", "--rounds", "0", "--budget", "60", "--threads", "1", "--no-progress"]
    ok(unihub("distill", *args, "-o", str(tmp_path / "ref.mtp")))
    out = tmp_path / "si.mtp"
    unihub("distill", *args, "-o", str(out), kill_when=tmp_path / "si" / "labels.json")
    assert not out.exists()
    labels = digests(tmp_path / "si")
    # the same command would start afresh over the saved teacher labels: refused, naming --resume
    res = unihub("distill", *args, "-o", str(out))
    assert res.returncode == 2 and "--resume" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert digests(tmp_path / "si") == labels and not out.exists()
    res = ok(unihub("distill", *args, "-o", str(out), "--resume"))
    assert "resumed" in res.stdout + res.stderr
    assert out.read_bytes() == (tmp_path / "ref.mtp").read_bytes()
    assert load_model(tmp_path / "si").mtp.elements == ["Si"]
