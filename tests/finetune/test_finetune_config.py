"""``FinetuneConfig``: YAML round trip, unknown keys refused, the CLI's flags (over a ``--config`` file) mapped
onto it, and the manifest's settings by the flat names every earlier run folder records."""

import argparse

import pytest

from unihub.cli import build_parser
from unihub.cli.finetune import finetune_config_from_args
from unihub.finetune.config import FinetuneConfig
from unihub.foundation.errors import InputError


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["finetune", "base", "data.extxyz", "-o", "out", *argv])


def _changed() -> FinetuneConfig:
    return FinetuneConfig(head="new", e0={"Cu": -3.0}, lr=2e-4, max_steps=50, loss={"forces": 1.0},
                          read_options={"energy_key": "REF_energy"}, data_card="mine.md").with_overrides(
        freeze=["embeddings", "interaction:0"], lr_factors={"readout": 2.0}, replay=16, replay_ratio=0.5,
        replay_select="fps", pseudolabel_replay=True, ewc=0.3, ewc_frames=8)


def test_yaml_round_trip(tmp_path):
    cfg = _changed()
    assert (cfg.replay.frames, cfg.replay.ratio, cfg.ewc.weight, cfg.freeze.lr_factors) == (16, 0.5, 0.3,
                                                                                            {"readout": 2.0})
    text = cfg.to_yaml(tmp_path / "ft.yaml")
    assert "replay:\n  frames: 16\n  ratio: 0.5\n" in text
    assert FinetuneConfig.from_yaml(tmp_path / "ft.yaml") == cfg
    assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg
    assert FinetuneConfig.from_dict({}) == FinetuneConfig()
    # YAML 1.1 reads 1e-3 (no dot) as text: a float setting takes the number
    (tmp_path / "lr.yaml").write_text("lr: 1e-3\nreplay: {ratio: 2e-1}\n")
    assert FinetuneConfig.from_yaml(tmp_path / "lr.yaml").lr == 1e-3


def test_unknown_keys_and_names_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"unknown top-level config keys \['replay_ration'\]; known: \[.*'replay'"):
        FinetuneConfig.from_dict({"replay_ration": 0.5})
    with pytest.raises(InputError,
                       match=r"unknown keys \['fraction'\] in 'replay'; known: \['fidelity', 'filter', 'frames'"):
        FinetuneConfig.from_dict({"replay": {"fraction": 0.5}})
    with pytest.raises(InputError, match=r"config section 'ewc' must be a mapping of its keys, got 0\.5"):
        FinetuneConfig.from_dict({"ewc": 0.5})
    (tmp_path / "list.yaml").write_text("- lr\n")
    with pytest.raises(InputError, match=r"list\.yaml holds a YAML list, not a mapping of sections \(freeze, "
                                         r"replay, ewc and settings\)"):
        FinetuneConfig.from_yaml(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match=r"no fine-tune config at .*none\.yaml"):
        FinetuneConfig.from_yaml(tmp_path / "none.yaml")
    with pytest.raises(InputError, match=r"unknown FinetuneConfig settings \['epoch'\]; known: .*'epochs'"):
        FinetuneConfig().with_overrides(epoch=3)


def test_finetune_refuses_an_unknown_keyword_before_any_work():
    from unihub.finetune import finetune

    # the model name is never looked up: the keyword is refused first
    with pytest.raises(InputError, match=r"unknown FinetuneConfig settings \['replay_ration'\]"):
        finetune("no-such-model", "no-such-file.extxyz", replay_ration=0.5)


def test_overrides_set_sections_by_flat_name_or_whole():
    cfg = FinetuneConfig().with_overrides(replay=8, ewc=1.0, freeze="embeddings")
    assert (cfg.replay.frames, cfg.ewc.weight, cfg.freeze.stages) == (8, 1.0, "embeddings")
    whole = FinetuneConfig().with_overrides(replay={"frames": 4, "select": "fps"})
    assert (whole.replay.frames, whole.replay.select, whole.replay.filter) == (4, "fps", "combinations")
    base = FinetuneConfig(lr=2e-3)
    assert base.with_overrides(epochs=2).lr == 2e-3 and base.epochs == 30  # a copy; the original is kept


def test_cli_flags_map_onto_the_config():
    plain = finetune_config_from_args(_args())
    assert plain == FinetuneConfig(progress=True)  # no flags: the defaults, with progress bars
    cfg = finetune_config_from_args(_args("--replay", "8", "--replay-ratio", "0.5", "--pseudolabel-replay",
                                          "--ewc", "0.2", "--lr-factors", "readout=2", "--freeze", "embeddings",
                                          "--e0", "keep", "--epochs", "3", "--lr", "5e-3", "--no-check-units",
                                          "--format", "extxyz", "--read-option", "energy_key=REF_energy",
                                          "--threads", "2", "--no-progress"))
    assert (cfg.replay.frames, cfg.replay.ratio, cfg.replay.pseudolabel, cfg.ewc.weight) == (8, 0.5, True, 0.2)
    assert (cfg.freeze.stages, cfg.freeze.lr_factors, cfg.e0) == ("embeddings", {"readout": 2.0}, "keep")
    assert (cfg.epochs, cfg.lr, cfg.check_units, cfg.threads, cfg.progress) == (3, 5e-3, False, 2, False)
    assert cfg.read_options == {"energy_key": "REF_energy", "format": "extxyz"}


def test_cli_flags_override_the_config_file(tmp_path):
    path = tmp_path / "ft.yaml"
    _changed().with_overrides(epochs=7, progress=False).to_yaml(path)
    cfg = finetune_config_from_args(_args("--config", str(path), "--epochs", "2", "--replay", "4",
                                          "--read-option", "forces_key=REF_forces"))
    assert (cfg.epochs, cfg.replay.frames) == (2, 4)  # the flags
    assert cfg.replay.ratio == 0.5 and cfg.lr == 2e-4 and cfg.freeze.lr_factors == {"readout": 2.0}  # the file
    assert cfg.read_options == {"energy_key": "REF_energy", "forces_key": "REF_forces"}
    assert cfg.progress is False  # the file's, as no flag was given
    again = finetune_config_from_args(_args("--config", str(path)))
    assert again == _changed().with_overrides(epochs=7, progress=False)


def test_manifest_settings_keep_their_flat_names():
    """A run folder's manifest names its settings as the keywords did; resuming compares them by name."""
    from unihub.finetune.run import _settings

    settings = _settings(FinetuneConfig(read_options=None).with_overrides(replay_ratio=0.5), "pack")
    assert set(settings) == {
        "head", "new_head_name", "init_head", "freeze", "lr_factors", "replay", "replay_ratio", "replay_select",
        "replay_filter", "replay_fidelity", "pseudolabel_replay", "pretraining", "ewc", "ewc_frames", "e0", "epochs",
        "max_steps", "lr", "batch_size", "ema_decay", "loss", "check_units", "eval_pretraining", "fidelity",
        "read_options", "seed", "valid_fraction", "patience"}
    assert settings["replay_ratio"] == 0.5 and settings["pretraining"] == "pack" and settings["read_options"] == {}
