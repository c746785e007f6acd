"""A fine-tuned model answers through the head it was tuned on when no head is named."""

import dataclasses

import numpy as np

from unihub.finetune import finetune
from unihub.zoo import load_model


def test_the_tuned_head_becomes_the_default(base, ft_frames, tmp_path):
    assert base.config.default_fidelity == "pbe"
    frames = [dataclasses.replace(f, fidelity="pbesol") for f in ft_frames]
    tuned = finetune(base, frames, epochs=1, lr=5e-3, check_units=False, output=tmp_path / "ft")
    assert tuned.config.default_fidelity == "pbesol" and base.config.default_fidelity == "pbe"
    assert load_model(tmp_path / "ft").config.default_fidelity == "pbesol"  # kept on disk
    atoms = frames[0].to_atoms()
    plain, named, other = (tuned.predict([atoms], head=h)[0] for h in (None, "pbesol", "pbe"))
    assert np.allclose(plain["forces"], named["forces"]) and not np.allclose(plain["forces"], other["forces"])


def test_a_new_head_becomes_the_default(base, ft_frames):
    tuned = finetune(base, ft_frames, head="new", new_head_name="mine", epochs=1, check_units=False)
    assert tuned.config.default_fidelity == "mine"
    atoms = ft_frames[0].to_atoms()
    assert np.allclose(tuned.predict([atoms])[0]["energy"], tuned.predict([atoms], head="mine")[0]["energy"])
