"""Freezing by named stages keeps parameters bit-identical; learning-rate factors shape the optimiser groups."""

import pytest
import torch

from unihub.finetune import finetune
from unihub.finetune.freeze import param_groups, parse_stages, stage_of


def test_stage_names(base):
    assert stage_of("messages.1.phi.0.weight") == "interaction:1"
    assert stage_of("updates.0.uv.weight") == "interaction:0"
    assert parse_stages("embeddings,interaction:0", base) == {"elements", "fidelity", "interaction:0"}
    assert parse_stages(["interaction"], base) == {"interaction:0", "interaction:1"}
    with pytest.raises(ValueError, match="unknown stage 'interaction:7'.*valid stages"):
        parse_stages("interaction:7", base)


def test_lr_factors_make_groups(base):
    groups = param_groups(base, 1e-3, {"embeddings": 0.1, "readout": 2.0})
    lrs = {round(g["lr"], 9): sum(p.numel() for p in g["params"]) for g in groups}
    emb = base.element_embedding.weight.numel() + base.fidelity_embedding.weight.numel()
    assert lrs[1e-4] == emb
    assert lrs[2e-3] == sum(p.numel() for p in base.readout.parameters())
    assert sum(lrs.values()) == base.num_parameters()


def test_frozen_stages_stay_bit_identical(base, ft_frames):
    tuned = finetune(base, ft_frames, freeze="embeddings,interaction:0", lr_factors={"readout": 3.0},
                     epochs=3, lr=5e-3, e0="keep", check_units=False)
    before, after = base.state_dict(), tuned.state_dict()
    frozen = ("element_embedding.", "fidelity_embedding.", "messages.0.", "updates.0.")
    moved = 0
    for name in before:
        if name.startswith(frozen):
            assert torch.equal(before[name], after[name]), name
        else:
            moved += not torch.equal(before[name], after[name])
    assert moved > 0  # the trainable stages did learn, so the equality above is not vacuous
    assert tuned.extra_config["finetune"]["method"]["freeze"] == ["elements", "fidelity", "interaction:0"]
