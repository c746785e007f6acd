"""`unihub train` with two CPU processes (DDP over gloo) on a user extxyz file."""

import csv
import subprocess
import sys

import yaml
from ase.io import write
from emt_frames import emt_frames


def test_ddp_two_cpu_processes(tmp_path):
    frames = emt_frames(32)
    write(tmp_path / "emt.xyz", [f.to_atoms() for f in frames], format="extxyz")
    cfg = {
        "model": {"features": 16, "vector_features": 4, "layers": 2, "cutoff": 4.0},
        "data": {"files": [{"path": str(tmp_path / "emt.xyz"), "fidelity": "pbe"}], "batch_size": 4},
        "optim": {"warmup_steps": 2, "lr": 5e-3},
        "trainer": {"max_epochs": 3, "log_every_n_steps": 1},
        "output": str(tmp_path / "run"),
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "unihub.cli", "train", str(tmp_path / "cfg.yaml"), "--devices", "2",
           "--accelerator", "cpu", "--strategy", "ddp", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "world_size=2" in r.stderr or "MEMBER: 2/2" in r.stderr, r.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "run" / "logs" / "version_0" / "metrics.csv")))
    loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    val = [float(r["val/forces_mae_meV_A"]) for r in rows if r.get("val/forces_mae_meV_A")]
    assert len(val) == 3 and val[-1] < val[0], val
    assert sum(loss[-3:]) < sum(loss[:3]), loss
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
