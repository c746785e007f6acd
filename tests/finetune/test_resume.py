"""An output folder is resumed only by the same run (data, base model, settings by sha256 and value);
another run there is refused with --overwrite / --resume named, and nothing in the folder changes."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch
from ase.io import write

from unihub.cli import main
from unihub.finetune import finetune
from unihub.finetune.rundir import MANIFEST, RunMismatchError
from unihub.zoo import load_model

KW = dict(epochs=1, lr=5e-3, check_units=False)


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its sha256 and mtime: a refusal must leave all of them as they were."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def two_files(ft_frames, tmp_path):
    a, b = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    write(a, [f.to_atoms() for f in ft_frames], format="extxyz")
    shifted = [dataclasses.replace(f, energy=f.energy + 0.01 * len(f)) for f in ft_frames]
    write(b, [f.to_atoms() for f in shifted], format="extxyz")
    return a, b


@pytest.fixture()
def done(base, two_files, tmp_path):
    """A finished run on a.extxyz in out/."""
    out = tmp_path / "out"
    tuned = finetune(base, two_files[0], output=out, **KW)
    return out, tuned


def test_other_data_is_refused_and_nothing_changes(base, two_files, done):
    out, _ = done
    before = snapshot(out)
    with pytest.raises(RunMismatchError, match=r"holds a fine-tune run of other inputs.*data \(.*a\.extxyz.*"
                                               r"b\.extxyz.*--overwrite.*--resume") as err:
        finetune(base, two_files[1], output=out, **KW)
    assert isinstance(err.value, ValueError)
    assert snapshot(out) == before
    card = load_model(out).extra_config["finetune"]
    assert card["data"].endswith("a.extxyz")


def test_other_settings_or_base_are_refused(base, two_files, done):
    out, _ = done
    before = snapshot(out)
    with pytest.raises(RunMismatchError, match=r"settings lr: 0.005 → 0.002"):
        finetune(base, two_files[0], output=out, **{**KW, "lr": 2e-3})
    other = load_model(out)  # the fine-tuned weights: another state digest
    with pytest.raises(RunMismatchError, match=r"base model \(tiny-0 \w{12} there; tiny-0-ft \w{12} now\)"):
        finetune(other, two_files[0], output=out, **KW)
    assert snapshot(out) == before


def test_same_run_resumes_without_training_again(base, two_files, done):
    out, first = done
    ckpts = snapshot(out / "run" / "checkpoints")
    again = finetune(base, two_files[0], output=out, resume=True, **KW)
    for k, v in first.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert {k for k in snapshot(out / "run" / "checkpoints") if k.startswith("epoch")} == \
        {k for k in ckpts if k.startswith("epoch")}


def test_overwrite_starts_afresh_on_new_data(base, two_files, done):
    out, _ = done
    finetune(base, two_files[1], output=out, overwrite=True, **KW)
    record = json.loads((out / "run" / MANIFEST).read_text())
    assert record["data"]["origin"].endswith("b.extxyz")
    assert load_model(out).extra_config["finetune"]["data"].endswith("b.extxyz")


def test_resume_needs_a_run_and_overwrite_excludes_it(base, two_files, tmp_path):
    with pytest.raises(RunMismatchError, match="holds no fine-tune run to resume; run without --resume"):
        finetune(base, two_files[0], output=tmp_path / "new", resume=True, **KW)
    assert not (tmp_path / "new").exists()
    with pytest.raises(RunMismatchError, match="contradict"):
        finetune(base, two_files[0], output=tmp_path / "new", resume=True, overwrite=True, **KW)
    assert not (tmp_path / "new").exists()


def test_folder_without_a_manifest_is_refused(base, two_files, tmp_path):
    out = tmp_path / "mine"
    (out / "run" / "checkpoints").mkdir(parents=True)
    (out / "run" / "checkpoints" / "last.ckpt").write_bytes(b"an older run")
    before = snapshot(out)
    with pytest.raises(RunMismatchError, match=rf"no record of a fine-tune run \({MANIFEST}\).*--overwrite"):
        finetune(base, two_files[0], output=out, **KW)
    assert snapshot(out) == before


def test_cli_refuses_with_exit_2_and_names_the_flags(base, two_files, done, tmp_path, capsys):
    out, _ = done
    base_dir = base.save(tmp_path / "base")
    before = snapshot(out)
    code = main(["finetune", str(base_dir), str(two_files[1]), "-o", str(out), "--epochs", "1", "--lr", "5e-3",
                 "--no-check-units", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "unihub finetune: error:" in err and "--overwrite" in err and "--resume" in err
    assert snapshot(out) == before
    code = main(["finetune", str(base_dir), str(two_files[1]), "-o", str(out), "--epochs", "1", "--lr", "5e-3",
                 "--no-check-units", "--no-progress", "--overwrite"])
    assert code == 0
    assert load_model(out).extra_config["finetune"]["data"].endswith("b.extxyz")


def test_the_run_folder_keeps_its_settings_and_repeats_from_them(base, two_files, done):
    """OUT/run/finetune-config.yaml holds the settings: the same run from it resumes; one changed is refused."""
    from unihub.finetune.config import FinetuneConfig
    from unihub.finetune.run import CONFIG_FILE

    out, first = done
    saved = FinetuneConfig.from_yaml(out / "run" / CONFIG_FILE)
    assert saved == FinetuneConfig().with_overrides(**KW)
    again = finetune(base, two_files[0], saved, output=out)
    for k, v in first.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    before = snapshot(out)
    with pytest.raises(RunMismatchError, match=r"settings replay_ratio: None → 0\.5"):
        finetune(base, two_files[0], saved, output=out, replay_ratio=0.5)
    assert snapshot(out) == before
