"""Early stopping: whole groups validate, training stops on a stalled validation loss and keeps the best weights."""

import dataclasses

import pytest
import torch

from unihub.finetune import finetune
from unihub.foundation.data.splits import hold_out_groups
from unihub.foundation.errors import InputError


def test_hold_out_takes_whole_groups(ft_frames):
    frames = [f for f in ft_frames for _ in range(3)]  # three frames of every group, as a relaxation run has
    kept, held = hold_out_groups(frames, 0.25, seed=0)
    assert len(kept) + len(held) == len(frames) and len(held) >= 0.25 * len(frames)
    assert not {f.group for f in kept} & {f.group for f in held}
    assert len(held) % 3 == 0 and len(held) < 0.25 * len(frames) + 3  # stops at the first group past the fraction
    again, other = hold_out_groups(frames, 0.25, seed=0), hold_out_groups(frames, 0.25, seed=1)
    assert [f.group for f in again[1]] == [f.group for f in held]
    assert {f.group for f in other[1]} != {f.group for f in held}


def test_hold_out_refuses_what_it_cannot_split(ft_frames):
    with pytest.raises(InputError, match="between 0 and 1"):
        hold_out_groups(ft_frames, 1.0)
    one_group = [dataclasses.replace(f, group="run") for f in ft_frames]
    with pytest.raises(InputError, match="one group"):
        hold_out_groups(one_group, 0.2)


def test_training_stops_on_a_stalled_validation_loss_and_keeps_the_best(base, ft_frames, tmp_path):
    out = tmp_path / "ft"
    # a learning rate far above a fine-tune's: the validation loss stalls or climbs within a few epochs
    tuned = finetune(base, ft_frames, epochs=80, lr=5e-2, batch_size=2, valid_fraction=0.25, patience=3, seed=0,
                     output=out, check_units=False)
    method = tuned.extra_config["finetune"]["method"]
    assert method["val_frames"] == 3 and method["train_frames"] == 9 and method["patience"] == 3
    best = method["best"]
    run = tuned.extra_config["finetune"]["config"]
    assert run["trainer"]["early_stopping_patience"] == 3
    ckpt = torch.load(out / "run" / "best" / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == best["epoch"]
    stopped = torch.load(out / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"]
    assert best["epoch"] + 3 <= stopped < 79  # stopped early, `patience` validations after the best
    exported = torch.load(out / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    saved = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("ema.")}
    last = {k[4:]: v for k, v in exported["state_dict"].items() if k.startswith("ema.")}
    mine = tuned.state_dict()
    # the model carries the best epoch's EMA weights, not the last epoch's
    assert all(torch.equal(mine[k], saved[k]) for k in saved)
    assert any(not torch.equal(mine[k], last[k]) for k in last)


def test_patience_without_validation_frames_is_refused(base, ft_frames, tmp_path):
    with pytest.raises(InputError, match="validation"):
        finetune(base, ft_frames, epochs=2, patience=2, output=tmp_path / "ft", check_units=False)


def test_cli_flags_set_validation_and_patience(base, ft_frames, tmp_path):
    from ase.io import write

    from unihub.cli import build_parser
    from unihub.zoo import load_model

    data = tmp_path / "d.extxyz"
    write(data, [f.to_atoms() for f in ft_frames], format="extxyz")
    args = build_parser().parse_args(["finetune", str(base.save(tmp_path / "base")), str(data), "-o",
                                      str(tmp_path / "out"), "--valid-fraction", "0.2", "--patience", "2",
                                      "--epochs", "3", "--no-check-units", "--no-progress"])
    assert args.func(args) == 0
    method = load_model(tmp_path / "out").extra_config["finetune"]["method"]
    assert method["val_frames"] >= 0.2 * len(ft_frames) and method["patience"] == 2 and method["best"]["epoch"] <= 2
