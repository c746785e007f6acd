"""``DistillConfig``: YAML round trip, unknown keys refused, the CLI's flags (over a ``--config`` file)."""

import argparse

import pytest

from unihub.cli import build_parser
from unihub.cli.distill import distill_config_from_args
from unihub.finetune.distillation import ActiveConfig
from unihub.finetune.distillation.config import DistillConfig
from unihub.foundation.errors import InputError


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["distill", "teacher", "-o", "x.mtp", *argv])


def test_yaml_round_trip(tmp_path):
    cfg = DistillConfig(elements=["W", "Be"], budget=300).with_overrides(
        level=10, r_cut=4.5, temperatures=[300.0, 900.0], md_steps=40, fit_iters=20, force_relative=0.5,
        active=ActiveConfig(threshold=1.5, max_rounds=2), threads=2)
    assert (cfg.fit.level, cfg.fit.iters, cfg.sampling.temperatures, cfg.active.max_rounds) == (10, 20, [300, 900], 2)
    text = cfg.to_yaml(tmp_path / "d.yaml")
    assert "fit:\n  level: 10\n  r_cut: 4.5\n" in text
    assert DistillConfig.from_yaml(tmp_path / "d.yaml") == cfg
    off = cfg.with_overrides(active=False)
    assert "active: false" in off.to_yaml() and DistillConfig.from_dict(off.to_dict()) == off
    assert DistillConfig.from_dict({}) == DistillConfig()


def test_unknown_keys_and_names_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"unknown keys \['md_step'\] in 'sampling'; known: \['max_atoms'"):
        DistillConfig.from_dict({"sampling": {"md_step": 10}})
    with pytest.raises(InputError, match=r"unknown keys \['rounds'\] in 'active'; known: .*'max_rounds'"):
        DistillConfig.from_dict({"active": {"rounds": 2}})
    with pytest.raises(InputError, match=r"unknown top-level config keys \['levle'\]"):
        DistillConfig.from_dict({"levle": 4})
    (tmp_path / "bad.yaml").write_text("fit: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml is not valid YAML"):
        DistillConfig.from_yaml(tmp_path / "bad.yaml")
    from unihub.finetune.distillation import distill

    # refused before the teacher is looked up
    with pytest.raises(InputError, match=r"unknown DistillConfig settings \['md_step'\]; known: .*'md_steps'"):
        distill("no-such-teacher", elements=["Si"], md_step=10)


def test_cli_flags_map_onto_the_config():
    assert distill_config_from_args(_args()) == DistillConfig()
    cfg = distill_config_from_args(_args("--elements", "W,Be", "--level", "10", "-T", "300", "900",
                                         "--md-steps", "40", "--rounds", "3", "--threshold", "1.5",
                                         "--relative-forces", "0.5", "--threads", "2", "--no-progress"))
    assert (cfg.elements, cfg.fit.level, cfg.sampling.temperatures, cfg.sampling.md_steps) == (["W", "Be"], 10,
                                                                                              [300, 900], 40)
    assert cfg.active == ActiveConfig(max_rounds=3, threshold=1.5)
    assert (cfg.fit.force_relative, cfg.threads, cfg.progress) == (0.5, 2, False)
    assert distill_config_from_args(_args("--rounds", "0")).active is False


def test_cli_flags_override_the_config_file(tmp_path):
    path = tmp_path / "d.yaml"
    DistillConfig(elements=["Cu"], budget=200, active=ActiveConfig(steps=60, max_rounds=2)).with_overrides(
        level=6, md_steps=40).to_yaml(path)
    cfg = distill_config_from_args(_args("--config", str(path), "--level", "8", "--threshold", "1.2"))
    assert (cfg.fit.level, cfg.active.threshold) == (8, 1.2)  # the flags
    assert (cfg.elements, cfg.budget, cfg.sampling.md_steps) == (["Cu"], 200, 40)  # the file
    assert (cfg.active.steps, cfg.active.max_rounds) == (60, 2)  # the file's active section under the flag
