"""Generated structures at the teacher's volume, sharded by parent, labelled resumably."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read

from unihub.finetune.distillation.teacher_set import at_teacher_volume, in_shard, label_generated, volume_factor
from unihub.finetune.distillation.teachers import Teacher


def emt() -> Teacher:
    return Teacher("emt", "ase", "", "raw", EMT)


def family(n_parents: int = 6):
    """Cu/Ni/Al fcc parents at a wrong lattice constant, each followed by a strained and a rattled copy."""
    out = []
    for k in range(n_parents):
        el = ("Cu", "Ni", "Al")[k % 3]
        parent = bulk(el, "fcc", a=4.3, cubic=True)  # EMT's minima: Cu 3.59, Ni 3.52, Al 4.05
        parent.info.update(id=f"p{k}", parent=f"p{k}")
        strained = parent.copy()
        strained.set_cell(parent.cell.array * 1.05, scale_atoms=True)
        strained.info.update(id=f"p{k}-s", parent=f"p{k}")
        rattled = parent.copy()
        rattled.rattle(0.05, seed=k)
        rattled.info.update(id=f"p{k}-r", parent=f"p{k}")
        out += [parent, strained, rattled]
    return out


def test_volume_factor_finds_the_teachers_minimum():
    atoms = bulk("Cu", "fcc", a=4.0, cubic=True)
    f = volume_factor(atoms, emt())
    a_scan = 4.0 * np.linspace(0.85, 1.0, 61)
    energies = []
    for a in a_scan:
        b = bulk("Cu", "fcc", a=a, cubic=True)
        b.calc = EMT()
        energies.append(b.get_potential_energy())
    assert abs(4.0 * f - a_scan[int(np.argmin(energies))]) < 0.02
    far = volume_factor(bulk("Cu", "fcc", a=4.6, cubic=True), emt())  # minimum outside the first scan: widened
    assert abs(4.6 * far - 4.0 * f) < 0.03


@pytest.mark.parametrize("energies, lowest", [([3, 2, 1, 1.1, -0.5, 5], 1.10), ([0, -1, -0.9, -0.95, -0.9, 0], 0.95)])
def test_volume_factor_falls_back_to_the_lowest_point(energies, lowest):
    """A scan the Birch-Murnaghan fit cannot follow (its minimum lands beyond the lowest point's neighbours)."""
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)

    class Table(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            s = (self.atoms.get_volume() / cell.get_volume()) ** (1 / 3)
            self.results = {"energy": energies[int(round((s - 0.9) / 0.05))], "forces": np.zeros((len(cell), 3)),
                            "stress": np.zeros(6)}

    assert volume_factor(cell, Teacher("table", "ase", "", "raw", Table)) == lowest


def test_copies_take_their_parents_factor_and_shards_partition():
    structs = family()
    shards = [list(at_teacher_volume(structs, emt(), shard=s, shards=2)) for s in (0, 1)]
    ids = [a.info["id"] for sh in shards for a in sh]
    assert sorted(ids) == sorted(a.info["id"] for a in structs)  # every structure, exactly once
    for sh in shards:
        for a in sh:
            assert in_shard(a.info["parent"], shards.index(sh), 2)
            sibling = next(b for b in sh if b.info["id"] == a.info["parent"])
            assert a.info["volume_factor"] == sibling.info["volume_factor"]
    cu = next(a for sh in shards for a in sh if a.info["id"] == "p0")
    assert abs(cu.cell.lengths()[0] - 3.59) < 0.03
    orphan = structs[1].copy()
    with pytest.raises(ValueError, match="before its parent"):
        list(at_teacher_volume([orphan], emt()))


def test_label_generated_resumes_without_rescanning_done_parents(tmp_path):
    structs = family()
    out = tmp_path / "labels.extxyz"
    label_generated(structs[:4], [emt()], out, batch_size=2)  # p0 family and p1's parent
    summary = label_generated(structs, [emt()], out, batch_size=2)  # p1's copies need p1's factor again
    frames = read(out, index=":")
    assert sorted(f.info["id"] for f in frames) == sorted(a.info["id"] for a in structs)
    by_id = {f.info["id"]: f for f in frames}
    assert by_id["p1-s"].info["volume_factor"] == by_id["p1"].info["volume_factor"]
    assert summary["written"] == len(structs) and summary["dropped"] == 0


def test_a_resumed_job_starts_at_its_last_block_and_labels_as_an_unbroken_one(tmp_path):
    """Resuming skips the generator's finished blocks without building them; the labels are those of one run."""
    from unihub.finetune.distillation import compounds as C
    from unihub.finetune.distillation.teacher_set import resume_block

    fast = ["prototype", *C.PERTURBED]
    elements = ["Cu", "Ni", "Al"]  # EMT's elements: intermetallic prototypes and their copies

    def stream(start: int = 0):
        return C.generate_compounds(16, seed=1, elements=elements, kinds=fast, start_block=start)

    whole, broken = tmp_path / "whole.extxyz", tmp_path / "broken.extxyz"
    assert resume_block(broken) == 0
    label_generated(stream(), [emt()], whole, batch_size=3)
    label_generated(list(stream())[:7], [emt()], broken, batch_size=3)  # a job that stopped in block 3
    start = resume_block(broken)
    assert start == 3
    label_generated(stream(start), [emt()], broken, batch_size=3)
    a = {f.info["id"]: f for f in read(whole, index=":")}
    b = {f.info["id"]: f for f in read(broken, index=":")}
    assert sorted(a) == sorted(b) and len(a) == 16
    for k, f in a.items():
        np.testing.assert_allclose(b[k].get_forces(), f.get_forces(), atol=1e-10)
        assert b[k].info["volume_factor"] == f.info["volume_factor"]


def test_labelled_set_becomes_a_dataset_with_a_card(tmp_path, monkeypatch):
    """The labelled shards get a card (pinned sha256, teachers, counts) and read back through load_dataset."""
    from unihub.finetune.distillation.teacher_set import teacher_set_card
    from unihub.foundation.data import load_card, load_dataset
    from unihub.foundation.data.cards import write_card
    from unihub.foundation.data.splits import assign_splits

    monkeypatch.setenv("UNIHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNIHUB_CARDS", str(tmp_path / "cards"))
    monkeypatch.setenv("UNIHUB_DATA", str(tmp_path / "shared"))  # read-only shared data elsewhere
    folder = tmp_path / "cache" / "data" / "generated" / "emt_set"
    structs = family(12)  # parents p0..p8 hash to shard 0, p9..p11 to shard 1
    files = []
    for shard in (0, 1):
        out = folder / f"shard{shard}.extxyz"
        label_generated(structs, [emt()], out, shard=shard, shards=2, batch_size=2)
        files.append(out)
    meta, prose = teacher_set_card("emt_set", files, "unihub label emt_set --n 18", 0, "test",
                                   overlap={"wbm_random_1000": 0})
    write_card(meta, prose)
    card = load_card("emt_set")
    assert card.role == "generated" and card.fidelity == "mptrj" and card.counts["frames"] == len(structs)
    assert card.elements == ("Al", "Ni", "Cu") and "emt ase" in card.title
    frames = load_dataset("emt_set")
    assert len(frames) == len(structs) and {f.fidelity for f in frames} == {"mptrj"}
    splits = dict(zip((f.group for f in frames), assign_splits(frames, card.splits), strict=True))
    assert set(splits) == {f"p{k}" for k in range(12)}  # a parent and its copies share one group
    files[0].write_bytes(files[0].read_bytes() + b"\n")  # a changed file no longer matches its card
    with pytest.raises(Exception, match="sha256"):
        load_dataset("emt_set")


def test_fingerprint_tells_generator_sequences_apart():
    from unihub.finetune.distillation.teacher_set import fingerprint

    a, b = family(), family()
    assert fingerprint(a) == fingerprint(b)
    b[2].positions[0, 0] += 0.01  # one moved atom in the first structures is another sequence
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(a + family()[:3])  # only the first 16 count
