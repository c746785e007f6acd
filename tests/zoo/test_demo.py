"""``unihub demo`` on the shipped default model: every structure relaxes (forces fall), MD runs, the plot is written."""

import json
import subprocess
import sys

import numpy as np


def test_demo_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "unihub.cli", "demo", "-o", str(tmp_path / "demo"), "--md-steps", "20",
                        "--no-progress"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert len(res["relaxations"]) == 9
    for row in res["relaxations"]:
        assert np.isfinite(row["energy_per_atom_relaxed"])
        assert row["max_force_relaxed"] < max(0.05, row["max_force_initial"])
    assert (tmp_path / "demo" / "md_si.png").stat().st_size > 1000
