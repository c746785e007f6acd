"""Bad fine-tune data is refused at the door with the problem and the fix named."""

import dataclasses

import pytest
from ft_helpers import cells, label

from unihub.finetune import finetune
from unihub.finetune.units import UnitsError


def test_no_energies(base, ft_frames):
    frames = [dataclasses.replace(f, energy=None) if k % 3 == 0 else f for k, f in enumerate(ft_frames)]
    with pytest.raises(ValueError, match=r"4 of 12 fine-tune frames have no energy.*add the DFT energies"):
        finetune(base, frames, epochs=1)


def test_unit_mismatch_declared_by_card(base, ft_frames, tmp_path):
    card = tmp_path / "mydata.md"
    card.write_text("---\nname: mydata\nunits:\n  energy: kcal/mol total\n  forces: kcal/mol/Å\n---\nprose\n")
    with pytest.raises(ValueError, match=r"declares energy in 'kcal/mol total'.*convert kcal/mol"):
        finetune(base, ft_frames, data_card=card, epochs=1)


def test_unit_mismatch_measured(base, ft_frames, tmp_path):
    kcal = [dataclasses.replace(f, energy=f.energy * 23.06, forces=f.forces * 23.06) for f in ft_frames]
    with pytest.raises(UnitsError, match=r"energies look like kcal/mol.*× 0.0433641.*--no-check-units"):
        finetune(base, kcal, epochs=1, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_element_the_base_never_saw(base):
    gold = label(base, cells(["Cu", "Au"], 3, seed=9))
    with pytest.raises(ValueError, match="never saw Au"):
        finetune(base, gold, epochs=1)


def test_unknown_head_and_bad_e0(base, ft_frames):
    with pytest.raises(ValueError, match="unknown fidelity head 'b3lyp'"):
        finetune(base, ft_frames, head="b3lyp", epochs=1)
    with pytest.raises(ValueError, match="e0 must be"):
        finetune(base, ft_frames, e0="guess", epochs=1)


def test_test_frames_in_other_units_refused(base, ft_frames, tmp_path):
    mev = [dataclasses.replace(f, energy=f.energy * 1000) for f in ft_frames[:4]]
    with pytest.raises(UnitsError, match=r"energies look like meV.*--no-check-units"):
        finetune(base, ft_frames, test=mev, epochs=1, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()
