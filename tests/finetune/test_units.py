"""Label units are judged from the labels: real PBE frames pass, the same frames in meV, kcal/mol,
Hartree, Rydberg, with transposed forces or stress in kbar are refused naming the cause and the override."""

import dataclasses

import numpy as np
import pytest

from unihub.finetune.units import UnitsError, check_labels

SETS = ["srhfo_mp_tasks", "ymgpo_insertion"]


def subset(frames, kind: str) -> list:
    """12 frames: consecutive steps (nearby pairs exist), or 12 spread over the file (no pairs at all)."""
    if kind == "steps":
        return frames[:12]
    return frames[:: len(frames) // 12][:12]


def scaled(frames, energy=1.0, forces=1.0, stress=1.0):
    return [dataclasses.replace(f, energy=f.energy * energy, forces=f.forces * forces,
                                stress=None if f.stress is None else f.stress * stress) for f in frames]


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("kind", ["steps", "spread"])
def test_real_pbe_frames_pass(real_frames, name, kind):
    notes = check_labels(subset(real_frames(name), kind))
    assert any("above the elemental references" in n for n in notes)
    if kind == "steps":
        ratio = float(notes[0].split("consistency ")[1].split()[0])
        assert 0.8 < ratio < 1.25  # ΔE = -F·Δr + Vσ:ε holds for real PBE steps
    else:
        assert notes[0].startswith("no nearby frames")


def test_whole_real_sets_pass(real_frames):
    for name in SETS:
        notes = check_labels(real_frames(name))
        assert float(notes[0].split("consistency ")[1].split()[0]) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("kind", ["steps", "spread"])
@pytest.mark.parametrize("factor,cause", [(1000.0, "meV"), (23.06, "kcal/mol"), (1 / 27.2114, "Hartree"),
                                          (1 / 13.6057, "Rydberg")])
def test_energy_units_refused(real_frames, kind, factor, cause):
    frames = scaled(subset(real_frames("srhfo_mp_tasks"), kind), energy=factor)
    with pytest.raises(UnitsError, match=rf"look like (energies in )?{cause}.*--no-check-units") as err:
        check_labels(frames)
    assert isinstance(err.value, ValueError)  # the CLI's one-line exit 2


@pytest.mark.parametrize("name", SETS)
def test_consistent_kcal_units_refused_by_size(real_frames, name):
    """Energy and forces both in kcal/mol agree with each other; their size gives them away."""
    frames = scaled(subset(real_frames(name), "steps"), energy=23.0605, forces=23.0605, stress=23.0605)
    with pytest.raises(UnitsError, match=r"energies look like kcal/mol; convert them to eV \(× 0.0433641"):
        check_labels(frames)


def test_forces_in_mev_per_angstrom_refused(real_frames):
    frames = scaled(subset(real_frames("ymgpo_insertion"), "steps"), forces=1000.0)
    with pytest.raises(UnitsError, match=r"forces in meV/Å|look like meV/Å"):
        check_labels(frames)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("kind", ["steps", "spread"])
def test_transposed_forces_refused(real_frames, name, kind):
    frames = [dataclasses.replace(f, forces=f.forces.T.reshape(-1)) for f in subset(real_frames(name), kind)]
    with pytest.raises(UnitsError, match=r"stored transposed \(all x, then all y.*shape \(N, 3\).*--no-check-units"):
        check_labels(frames)


def test_forces_zeroed_on_fixed_atoms_are_not_called_transposed(real_frames):
    """Slab sets often zero the forces on fixed atoms, so forces no longer sum to zero; that is no unit error."""
    frames = []
    for f in subset(real_frames("ymgpo_insertion"), "spread"):
        forces = f.forces.copy()
        forces[: len(f) // 2] = 0.0
        frames.append(dataclasses.replace(f, forces=forces))
    assert any("elemental references" in n for n in check_labels(frames))


def test_transposed_2d_array_refused_at_the_door(real_frames):
    f = subset(real_frames("ymgpo_insertion"), "steps")[0]
    with pytest.raises(ValueError, match=r"forces have shape \(3, \d+\)"):
        dataclasses.replace(f, forces=f.forces.T)


def test_stress_in_kbar_refused_by_size(real_frames):
    frames = scaled(subset(real_frames("srhfo_mp_tasks"), "spread"), stress=1602.18)
    with pytest.raises(UnitsError, match=r"stress .* looks like kbar or GPa.*--no-check-units"):
        check_labels(frames)


@pytest.mark.parametrize("factor,cause", [(160.218, "stress in GPa"), (1602.18, "stress in kbar"),
                                          (-1.0, "stress with the opposite sign")])
def test_stress_units_and_sign_refused_by_finite_strain(real_frames, factor, cause):
    """Where cells change between steps, ΔE = -F·Δr + Vσ:ε fixes the stress's unit and sign."""
    frames = scaled(subset(real_frames("srhfo_mp_tasks"), "steps"), stress=factor)
    with pytest.raises(UnitsError, match=rf"but do with {cause}.*--no-check-units"):
        check_labels(frames)


def test_stress_in_another_layout_refused(real_frames):
    frames = [dataclasses.replace(f, stress=np.roll(f.stress.ravel(), 1)) for f in
              subset(real_frames("ymgpo_insertion"), "steps")]
    with pytest.raises(UnitsError, match="stress is not symmetric"):
        check_labels(frames)


@pytest.mark.parametrize("factor,verdict", [(1.0, None), (1 / 27.2114, "Hartree"), (1000.0, "meV")])
def test_isolated_atoms_judged_against_isolated_atom_energies(factor, verdict):
    """E0 frames (one atom in a big box) sit far above the elemental references; their own reference
    is the isolated atom (half a PBE dimer at 6 Å)."""
    from unihub.finetune.units import isolated_references
    from unihub.foundation.data.frame import Frame

    atoms = isolated_references()
    if atoms is None:
        pytest.skip("the diatomics dataset is not in the data directory")
    frames = [Frame([z], [[0.0, 0.0, 0.0]], 14.0 * np.eye(3), True, energy=atoms[s] * factor, forces=np.zeros((1, 3)))
              for z, s in ((38, "Sr"), (72, "Hf"), (8, "O"), (29, "Cu"), (74, "W"))]
    if verdict is None:
        assert "above the elemental references" in check_labels(frames)[1]
    else:
        with pytest.raises(UnitsError, match=rf"energies look like {verdict}"):
            check_labels(frames)


def test_base_model_is_a_hint_only_where_it_fits_the_energies(base):
    """With no nearby frames, forces are compared with a base model that reproduces the energies; a base
    that does not is ignored, however far off its forces are."""
    from ft_helpers import cells, label

    from unihub.finetune.heads import predict_frames

    frames = label(base, cells(["Cu", "Ni"], 6, seed=3))
    predict = lambda fs: predict_frames(base, fs, "pbe")  # noqa: E731
    assert check_labels(frames, predict=predict, refs={})[-1].startswith("forces 1.00×")
    with pytest.raises(UnitsError, match=r"forces are 23.1× the base model's, which matches their energies"):
        check_labels(scaled(frames, forces=23.06), predict=predict, refs={})
    shifted = [dataclasses.replace(f, energy=f.energy + 5.0 * len(f)) for f in scaled(frames, forces=23.06)]
    assert "base model not used" in check_labels(shifted, predict=predict, refs={})[-1]


@pytest.fixture(scope="module")
def srhfo12(real_frames, tmp_path_factory):
    """The first 12 frames of srhfo_mp_tasks as a user's file (universal-v1's forces on them are ~50× the
    DFT's), and the same with energies in meV."""
    from ase.io import write

    folder = tmp_path_factory.mktemp("srhfo12")
    frames = real_frames("srhfo_mp_tasks")[:12]
    write(folder / "ev.extxyz", [f.to_atoms() for f in frames], format="extxyz")
    write(folder / "mev.extxyz", [f.to_atoms() for f in scaled(frames, energy=1000.0)], format="extxyz")
    return folder


def test_cli_trains_real_frames_and_refuses_mev_with_the_override_named(srhfo12, capsys):
    from unihub.cli import main
    from unihub.zoo import load_model

    common = ["--epochs", "1", "--no-progress", "--read-option", "group_by=group"]
    out = srhfo12 / "out"
    assert main(["finetune", "universal-v1", str(srhfo12 / "ev.extxyz"), "-o", str(out), *common]) == 0
    assert load_model(out).extra_config["finetune"]["method"]["train_frames"] == 12
    capsys.readouterr()
    refused = srhfo12 / "refused"
    assert main(["finetune", "universal-v1", str(srhfo12 / "mev.extxyz"), "-o", str(refused), *common]) == 2
    err = capsys.readouterr().err
    assert "energies look like meV" in err and "--no-check-units" in err and err.count("\n") == 1
    assert not refused.exists()
    forced = srhfo12 / "forced"
    assert main(["finetune", "universal-v1", str(srhfo12 / "mev.extxyz"), "-o", str(forced), *common,
                 "--no-check-units"]) == 0
    assert load_model(forced).extra_config["finetune"]["config"]["seed"] == 0
