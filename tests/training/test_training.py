"""Training: the loss falls, checkpoints resume exactly after a kill, exported weights reload."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

HERE = Path(__file__).parent


def run_script(out: Path, epochs: int, kill_when: Path | None = None) -> int:
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, str(HERE / "train_script.py"), str(out), str(epochs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_when is None:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
        return proc.returncode
    deadline = time.time() + 600
    while not kill_when.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


def test_kill_and_resume_matches_uninterrupted(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    run_script(ref, 3)
    # kill as soon as the first epoch checkpoint exists, then resume to the same end
    rc = run_script(killed, 3, kill_when=killed / "checkpoints" / "epoch000.ckpt")
    assert rc == -signal.SIGKILL
    assert not (killed / "model").exists()
    run_script(killed, 3)
    # the run must have learnt something, or equality below proves nothing
    rows = list(csv.DictReader(open(ref / "logs" / "version_0" / "metrics.csv")))
    assert max(float(r["train/loss"]) for r in rows if r.get("train/loss")) > 1e-3
    a = load_file(str(ref / "model" / "model.safetensors"))
    b = load_file(str(killed / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # no temporary checkpoint files are left behind
    assert not [p for p in (killed / "checkpoints").iterdir() if p.name.startswith(".")]


def test_loss_falls_and_model_reloads(tmp_path):
    from emt_frames import emt_frames

    from unihub.foundation.model.io import load_potential

    sys.path.insert(0, str(HERE))
    run_script(tmp_path / "r", 3)
    rows = list(csv.DictReader(open(tmp_path / "r" / "logs" / "version_0" / "metrics.csv")))
    val = [float(r["val/forces_mae_meV_A"]) for r in rows if r.get("val/forces_mae_meV_A")]
    assert len(val) == 3 and val[-1] < val[0]
    model = load_potential(tmp_path / "r" / "model")
    f = emt_frames()[5]
    atoms = f.to_atoms()
    atoms.calc = model.calculator()
    assert np.isfinite(atoms.get_forces()).all()
    assert model.seen_elements[model.fidelity_index("pbe")][[13, 28, 29]].all()


def test_second_stage_starts_from_the_first(tmp_path):
    """``init_from`` starts a run from saved network weights; a changed architecture is refused."""
    import pytest
    from emt_frames import emt_frames

    from unihub.foundation.model.io import load_potential
    from unihub.foundation.training import TrainConfig, train
    from unihub.foundation.training.data import FrameSource

    run_script(tmp_path / "s1", 1)
    base = {"model": {"features": 16, "vector_features": 4, "layers": 2, "cutoff": 4.0},
            "data": {"batch_size": 4}, "optim": {"warmup_steps": 1, "lr": 1e-9},
            "loss": {"huber_delta": {"energy": 0.01, "forces": 0.05, "stress": 0.002}},
            "trainer": {"max_steps": 1, "progress": False, "log_every_n_steps": 1},
            "init_from": str(tmp_path / "s1" / "model"), "output": str(tmp_path / "s2"), "seed": 1}
    source = FrameSource(emt_frames())
    s1 = load_potential(tmp_path / "s1" / "model").state_dict()
    s2 = load_potential(train(TrainConfig.from_dict(base), source=source)).state_dict()
    # one step at lr 1e-9 leaves the network where stage 1 left it
    for k in s1:
        torch.testing.assert_close(s2[k], s1[k], atol=1e-6, rtol=0, msg=k)
    other = dict(base, model=dict(base["model"], features=8), output=str(tmp_path / "s3"))
    with pytest.raises(ValueError, match="model config differs"):
        train(TrainConfig.from_dict(other), source=source)
    # a run may add a head: shared heads keep their embedding, the new one starts from the default head's
    old_heads = load_potential(tmp_path / "s1" / "model").config.fidelities
    grown = dict(base, model=dict(base["model"], fidelities=[*old_heads, "mptrj"]), output=str(tmp_path / "s4"))
    s4 = load_potential(train(TrainConfig.from_dict(grown), source=source)).state_dict()
    emb1, emb4 = s1["fidelity_embedding.weight"], s4["fidelity_embedding.weight"]
    torch.testing.assert_close(emb4[: len(old_heads)], emb1, atol=1e-6, rtol=0)
    torch.testing.assert_close(emb4[-1], emb1[old_heads.index("pbe")], atol=1e-6, rtol=0)
    # ... and move the short-range switch, which has no parameters
    moved = dict(base, model=dict(base["model"], inner_switch=[0.35, 0.6]), output=str(tmp_path / "s5"))
    s5 = load_potential(train(TrainConfig.from_dict(moved), source=source))
    assert list(s5.config.inner_switch) == [0.35, 0.6]
    emb = "element_embedding.weight"
    torch.testing.assert_close(s5.state_dict()[emb], s1[emb], atol=1e-6, rtol=0)


def test_resume_takes_the_newest_checkpoint(tmp_path):
    from unihub.foundation.training.run import latest_checkpoint

    assert latest_checkpoint(tmp_path) is None
    for k, name in enumerate(["epoch000.ckpt", "last.ckpt", "step0000400.ckpt", "last-v1.ckpt", ".last.ckpt.tmp9"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, ns=(10**18 + k * 10**9, 10**18 + k * 10**9))
    # the step callback's 'last' is newer than the epoch callback's; a temporary is never a checkpoint
    assert latest_checkpoint(tmp_path).name == "last-v1.ckpt"


def test_non_finite_gradients_skip_the_step():
    """A step whose gradients overflow leaves every weight as it was (no NaN reaches the model or its EMA)."""
    from unihub.foundation.model.config import ModelConfig
    from unihub.foundation.training.module import PotentialModule

    mod = PotentialModule(ModelConfig(features=8, vector_features=2, layers=1).to_dict(), {}, {}, ["x"])
    before = [p.detach().clone() for p in mod.model.parameters()]
    opt = torch.optim.AdamW(mod.model.parameters(), lr=0.1)
    for p in mod.model.parameters():
        p.grad = torch.ones_like(p)
    next(mod.model.parameters()).grad[0] = float("nan")
    mod.on_before_optimizer_step(opt)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, mod.model.parameters()))
    assert mod.skipped_steps == 1
    for p in mod.model.parameters():  # finite gradients still train
        p.grad = torch.ones_like(p)
    mod.on_before_optimizer_step(opt)
    opt.step()
    assert not all(torch.equal(a, b) for a, b in zip(before, mod.model.parameters()))


def test_caps_per_dataset_by_name():
    from unihub.foundation.training.run import _cap_per_dataset

    class Source:  # three datasets of 10, 20 and 30 frames
        datasets = ["a", "b", "c"]
        labels = np.repeat([0, 1, 2], [10, 20, 30])

        def get(self, i):
            return {"dataset": self.labels[i]}

    src, idx = Source(), np.arange(60)
    count = lambda kept: np.bincount(src.labels[kept], minlength=3).tolist()  # noqa: E731
    assert count(_cap_per_dataset(src, idx, 15, 0)) == [10, 15, 15]
    assert count(_cap_per_dataset(src, idx, {"default": 5, "c": None}, 0)) == [5, 5, 30]
    assert count(_cap_per_dataset(src, idx, {"b": 12}, 0)) == [10, 12, 30]
    assert count(_cap_per_dataset(src, idx, None, 0)) == [10, 20, 30]


def test_resume_refuses_a_run_made_with_other_settings(tmp_path):
    """More epochs or another machine may resume a run; another learning rate or model may not."""
    import pytest

    from unihub.foundation.errors import InputError
    from unihub.foundation.training.config import TrainConfig
    from unihub.foundation.training.run import check_resume

    cfg = TrainConfig.from_dict({"output": str(tmp_path)})
    check_resume(tmp_path, cfg, resuming=False)
    recorded = (tmp_path / "train_settings.json").read_bytes()
    cfg.trainer.max_epochs, cfg.trainer.threads = 99, 2
    check_resume(tmp_path, cfg, resuming=True)  # resumable trainer settings
    assert (tmp_path / "train_settings.json").read_bytes() == recorded
    cfg.optim.lr *= 2
    with pytest.raises(InputError, match=r"other settings \(optim.lr: .* -> .*--restart"):
        check_resume(tmp_path, cfg, resuming=True)
    assert (tmp_path / "train_settings.json").read_bytes() == recorded
    check_resume(tmp_path, cfg, resuming=False)  # --restart: the new settings are recorded
    assert (tmp_path / "train_settings.json").read_bytes() != recorded


def test_forces_also_on_adds_force_only_copies_to_the_training_split():
    """A dataset named in ``forces_also_on`` trains another head on its forces alone; validation is untouched."""
    import dataclasses

    from emt_frames import emt_frames

    from unihub.foundation.training.data import FrameSource, PotentialDataModule

    frames = emt_frames(12)
    frames = [dataclasses.replace(f, dataset="dimers") if k % 2 else dataclasses.replace(f, fidelity="mptrj")
              for k, f in enumerate(frames)]
    src = FrameSource(frames)
    heads = ["pbe", "mptrj"]
    plain = PotentialDataModule(src, heads, 4.0)
    key = (src.datasets.index("dimers"), src.fidelities.index("pbe"))
    dm = PotentialDataModule(src, heads, 4.0, forces_also_on={key: heads.index("mptrj")})
    base, grown = plain._loader("train", False, 4).dataset, dm._loader("train", False, 4).dataset
    dimer_train = [i for i in src.indices("train") if src.frames[i].dataset == "dimers"]
    assert len(grown) == len(base) + len(dimer_train) > len(base)
    for k in range(len(base)):  # the originals keep their own head and every label
        a, b = base[k], grown[k]
        assert int(a.fidelity) == int(b.fidelity) and bool(b.has_energy) and bool(b.has_stress)
    for k, i in zip(range(len(base), len(grown)), dimer_train, strict=True):
        g = grown[k]
        assert int(g.fidelity) == heads.index("mptrj") and src.frames[i].fidelity == "pbe"
        assert not bool(g.has_energy) and not bool(g.has_stress) and bool(g.has_forces)
        np.testing.assert_array_equal(g.forces.numpy(), src.frames[i].forces)
    assert len(dm._loader("val", False, 4).dataset) == len(plain._loader("val", False, 4).dataset)


def test_forces_also_on_refuses_unknown_names():
    import pytest

    from unihub.foundation.errors import InputError
    from unihub.foundation.training.run import _forces_also_on

    class Source:
        datasets, fidelities = ["a", "b"], ["pbe", "r2scan"]

    heads = ["pbe", "mptrj", "r2scan"]
    assert _forces_also_on({"b": {"pbe": "mptrj"}}, Source(), heads) == {(1, 0): 1}
    with pytest.raises(InputError, match="not in the data"):
        _forces_also_on({"c": {"pbe": "mptrj"}}, Source(), heads)
    with pytest.raises(InputError, match="must map"):
        _forces_also_on({"a": "mptrj"}, Source(), heads)
    with pytest.raises(InputError, match="no data has fidelity"):
        _forces_also_on({"a": {"lda": "mptrj"}}, Source(), heads)
    with pytest.raises(InputError, match="no head"):
        _forces_also_on({"a": {"pbe": "rpbe"}}, Source(), heads)
