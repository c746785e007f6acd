"""The model card's account of a multi-stage training."""

import json

from unihub.zoo.release import training_stages


def _run(tmp_path, name, steps, init_from=None):
    model = tmp_path / name / "model"
    model.mkdir(parents=True)
    cfg = {"output": f"runs/{name}", "loss": {"energy": 1.0, "forces": steps / 1000, "stress": 1.0}}
    if init_from:
        cfg["init_from"] = str(init_from)
    training = {"config": cfg, "global_step": steps}
    (model / "config.json").write_text(json.dumps({"training": training}))
    return model, training


def test_stages_follow_init_from_oldest_first(tmp_path):
    first, _ = _run(tmp_path, "a", 1000)
    second, _ = _run(tmp_path, "b", 2000, init_from=first)
    third, training = _run(tmp_path, "c", 3000, init_from=second)
    stages = training_stages(training, third)
    assert [s["steps"] for s in stages] == [1000, 2000, 3000]
    assert all(s["file"] is None for s in stages)  # none of these runs is written by a shipped config


def test_shipped_stage_configs_are_found_by_run_directory(tmp_path):
    _, training = _run(tmp_path, "x", 10)
    (stage,) = training_stages(training, "runs/universal-v1-stage1/model")
    assert stage["file"] == "foundation/configs/universal-v1-stage1.yaml"
